"""Whether a recording held a question: not silence, noise, a click, or one of whisper's phantom phrases."""

from __future__ import annotations

import logging

import numpy as np

from assistant.core.phrases import Phrases
from assistant.core.types import AudioClip, Transcript
from assistant.errors import NotHeardError, NothingHeardError

_LOGGER = logging.getLogger(__name__)

MIN_SPEECH_S = 0.3
"""Less speech than this is not a question: a click, a breath, a cough."""
SILENCE_RMS = 0.003
"""Below this loudness a recording is silence (the microphone was muted, or nobody spoke)."""
PHANTOMS = {
    "you",
    "thank you",
    "thanks",
    "thank you very much",
    "thanks for watching",
    "thank you for watching",
    "bye",
    "subtitles by the amaraorg community",
    "谢谢",
    "谢谢观看",
}
"""What whisper is known to hear in silence and noise."""


def _plain(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


DOUBTFUL_LOGPROB = -0.6
"""A transcript whose tokens average less than this log-probability is often wrong, and the answer says first what
was heard. On the hearing set (benchmarks/hearing.py) it marked 84% of the questions misheard (over a fifth of
their words wrong) and a quarter of those heard right."""


def is_doubtful(transcript: Transcript) -> bool:
    return transcript.avg_logprob < DOUBTFUL_LOGPROB


def check_heard(clip: AudioClip, transcript: Transcript, say: Phrases) -> None:
    """Raise unless the recording holds a question worth asking: not silence, noise, a click,
    or one of whisper's phantom phrases."""
    if clip.samples.size == 0 or float(np.sqrt(np.mean(np.square(clip.samples)))) < SILENCE_RMS:
        raise NothingHeardError(say.nothing_heard)
    text = _plain(transcript.text)
    if not text or transcript.speech_s < MIN_SPEECH_S:
        raise NotHeardError(say.not_caught)
    unsure = transcript.no_speech_prob > 0.6 and transcript.avg_logprob < -1.0
    phantom = text in PHANTOMS and (
        transcript.speech_s < 0.8 or transcript.no_speech_prob > 0.3 or transcript.avg_logprob < -0.7
    )
    if unsure or phantom:
        _LOGGER.info(
            "not a question: %r (no_speech %.2f, logprob %.2f, speech %.2f s)",
            transcript.text,
            transcript.no_speech_prob,
            transcript.avg_logprob,
            transcript.speech_s,
        )
        raise NotHeardError(say.not_caught)
