"""Speaking: text to speech, the speaker and WAV files, and the state sounds."""
