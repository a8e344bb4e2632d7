"""Speech to text with faster-whisper, from a local model folder only."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import AssistantError, BadInputError, ModelError, NothingHeardError
from assistant.types import AudioClip, Transcript

_LOGGER = logging.getLogger(__name__)

WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json")

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
NOT_CAUGHT = "I didn't catch that. Please ask again."


@dataclass(frozen=True)
class SttOptions:
    compute_type: str = "int8"
    beam_size: int = 1
    language: str = ""
    vad: bool = True
    threads: int = 0
    hotwords: str = ""
    """Words to bias recognition towards: the voice commands, which small models mishear when said alone."""


def check_whisper_dir(path: Path) -> None:
    """Raise a ModelError naming what is missing from a faster-whisper folder."""
    fix = "Run ./setup.sh, or set stt.whisper to a faster-whisper model folder."
    if not path.is_dir():
        raise ModelError(f"The speech model folder {path} is missing.", fix)
    missing = [name for name in WHISPER_FILES if not (path / name).is_file()]
    if missing:
        raise ModelError(f"The speech model folder {path} lacks {', '.join(missing)}.", fix)


class WhisperTranscriber:
    def __init__(self, model_dir: Path, options: SttOptions | None = None) -> None:
        from faster_whisper import WhisperModel

        self.options = options or SttOptions()
        check_whisper_dir(model_dir)
        try:
            self.model: Any = WhisperModel(
                str(model_dir),
                device="cpu",
                compute_type=self.options.compute_type,
                cpu_threads=self.options.threads or (os.cpu_count() or 1),
                local_files_only=True,
            )
        except Exception as e:  # CTranslate2 raises RuntimeError or ValueError on a bad model.bin
            raise ModelError(
                f"The speech model in {model_dir} is damaged and cannot be loaded.",
                "Run ./setup.sh again, or point stt.whisper at a good model folder.",
            ) from e
        self.language = self.options.language or ("" if self.model.model.is_multilingual else "en")
        _LOGGER.debug("whisper %s loaded, language %s", model_dir, self.language or "auto")

    def transcribe(self, clip: AudioClip) -> Transcript:
        if clip.sample_rate != 16_000:
            raise BadInputError("The recording must be 16 kHz for speech recognition.")
        speech_s = speech_seconds(clip) if self.options.vad else clip.duration_s
        if speech_s < MIN_SPEECH_S:
            return Transcript("", no_speech_prob=1.0, speech_s=speech_s)
        segments, info = self.model.transcribe(
            clip.samples,
            language=self.language or None,
            beam_size=self.options.beam_size,
            vad_filter=self.options.vad,
            condition_on_previous_text=False,
            hotwords=self.options.hotwords or None,
        )
        # segments is a lazy generator: the work happens here.
        parts = list(segments)
        if not parts:
            return Transcript("", info.language, no_speech_prob=1.0, speech_s=speech_s)
        text = " ".join(part.text.strip() for part in parts).strip()
        text = text[:1].upper() + text[1:]  # the command hints make whisper start in lower case
        return Transcript(
            text,
            info.language,
            no_speech_prob=max(part.no_speech_prob for part in parts),
            avg_logprob=sum(part.avg_logprob for part in parts) / len(parts),
            speech_s=speech_s,
        )


def speech_seconds(clip: AudioClip) -> float:
    """Seconds of speech in the clip, by faster-whisper's bundled Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    stamps = get_speech_timestamps(clip.samples, VadOptions(speech_pad_ms=0), sampling_rate=clip.sample_rate)
    return sum(stamp["end"] - stamp["start"] for stamp in stamps) / clip.sample_rate


def _plain(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def check_heard(clip: AudioClip, transcript: Transcript) -> None:
    """Raise unless the recording holds a question worth asking: not silence, noise, a click,
    or one of whisper's phantom phrases."""
    if clip.samples.size == 0 or float(np.sqrt(np.mean(np.square(clip.samples)))) < SILENCE_RMS:
        raise NothingHeardError()
    text = _plain(transcript.text)
    if not text or transcript.speech_s < MIN_SPEECH_S:
        raise AssistantError(NOT_CAUGHT)
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
        raise AssistantError(NOT_CAUGHT)
