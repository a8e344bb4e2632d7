"""Speech to text with faster-whisper, from a local model folder only."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.heard import MIN_SPEECH_S
from assistant.core.types import AudioClip, Transcript
from assistant.errors import BadInputError, ModelError

_LOGGER = logging.getLogger(__name__)

WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json")


@dataclass(frozen=True)
class SttOptions:
    compute_type: str = "int8"
    beam_size: int = 1
    language: str = ""
    vad: bool = True
    threads: int = 0
    hotwords: str = ""
    """Words to bias recognition towards: the voice commands, which small models mishear when said alone."""
    device: str = "auto"
    """cpu, cuda, or auto: CUDA when CTranslate2 finds a GPU and a first transcription on it works."""


CUDA_COMPUTE_TYPE = "float16"


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
        self.options = options or SttOptions()
        check_whisper_dir(model_dir)
        if self.options.device not in ("auto", "cpu", "cuda"):
            raise BadInputError(f"stt.device is {self.options.device!r}; it can be auto, cpu or cuda.")
        self.device = "cpu"
        if self.options.device != "cpu" and (self.options.device == "cuda" or _cuda_devices() > 0):
            try:
                self.model: Any = self._load(model_dir, "cuda")
                self._transcribe_tone()  # CUDA's libraries load at the first transcription, not before
                self.device = "cuda"
            except (RuntimeError, ValueError) as e:
                if self.options.device == "cuda":
                    raise ModelError(
                        f"Speech recognition cannot run on CUDA here: {e}.", "Set stt.device to auto or cpu."
                    ) from e
                _LOGGER.warning("speech recognition stays on the CPU: CUDA failed with %s", e)
        if self.device == "cpu":
            self.model = self._load(model_dir, "cpu")
        self.language = self.options.language or ("" if self.model.model.is_multilingual else "en")
        _LOGGER.debug("whisper %s loaded on %s, language %s", model_dir, self.device, self.language or "auto")

    def _load(self, model_dir: Path, device: str) -> Any:
        from faster_whisper import WhisperModel

        try:
            return WhisperModel(
                str(model_dir),
                device=device,
                compute_type=self.options.compute_type if device == "cpu" else CUDA_COMPUTE_TYPE,
                cpu_threads=self.options.threads or (os.cpu_count() or 1),
                local_files_only=True,
            )
        except Exception as e:  # CTranslate2 raises RuntimeError or ValueError on a bad model.bin
            if device != "cpu":
                raise RuntimeError(str(e)) from e
            raise ModelError(
                f"The speech model in {model_dir} is damaged and cannot be loaded.",
                "Run ./setup.sh again, or point stt.whisper at a good model folder.",
            ) from e

    def _transcribe_tone(self) -> None:
        segments, _ = self.model.transcribe(_quiet_tone(), beam_size=1, vad_filter=False, language="en")
        list(segments)

    def warm_up(self) -> None:
        """Run the voice detector and the model once, on a second of quiet tone, so that the first question does
        not pay for their first call (over two seconds on two cores)."""
        tone = _quiet_tone()
        if self.options.vad:
            speech_seconds(AudioClip(tone, 16_000))
        segments, _ = self.model.transcribe(
            tone, language=self.language or None, beam_size=self.options.beam_size, vad_filter=False
        )
        list(segments)

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


def _quiet_tone() -> np.ndarray:
    """A second of quiet 220 Hz tone at 16 kHz."""
    return 0.01 * np.sin(2 * np.pi * 220 * np.arange(16_000) / 16_000).astype(np.float32)


def _cuda_devices() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


def speech_seconds(clip: AudioClip) -> float:
    """Seconds of speech in the clip, by faster-whisper's bundled Silero VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    stamps = get_speech_timestamps(clip.samples, VadOptions(speech_pad_ms=0), sampling_rate=clip.sample_rate)
    return sum(stamp["end"] - stamp["start"] for stamp in stamps) / clip.sample_rate
