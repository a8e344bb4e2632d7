"""Hearing: the microphone and audio files, speech to text, the keys and the hardware button."""
