"""Text to speech with Piper: one audio chunk per sentence."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import ModelError
from assistant.speech import clean_for_speech
from assistant.types import AudioChunk

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechOptions:
    speech_rate: float = 1.0
    """1.0 is the voice's own speed; Piper's length_scale is divided by it."""
    noise_scale: float = -1.0
    """-1 keeps the voice's own; 0 makes speech repeatable."""
    noise_w_scale: float = -1.0
    volume: float = 1.0


def voice_config_path(voice: Path) -> Path:
    return voice.with_name(voice.name + ".json")


def check_voice(voice: Path) -> None:
    fix = "Run ./setup.sh, or set tts.voice to a Piper .onnx file with its .onnx.json beside it."
    if not voice.is_file():
        raise ModelError(f"The voice file {voice} is missing.", fix)
    config = voice_config_path(voice)
    if not config.is_file():
        raise ModelError(f"The voice settings file {config} is missing.", fix)


class PiperSynthesizer:
    def __init__(self, voice: Path, options: SpeechOptions | None = None) -> None:
        from piper import PiperVoice

        check_voice(voice)
        self.options = options or SpeechOptions()
        try:
            self.voice: Any = PiperVoice.load(voice, voice_config_path(voice))
        except Exception as e:  # JSON, onnxruntime and espeak each raise their own kinds
            raise ModelError(
                f"The voice {voice.name} is damaged and cannot be loaded.",
                "Run ./setup.sh again, or choose another voice with tts.voice.",
            ) from e

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    @property
    def speech_rate(self) -> float:
        return self.options.speech_rate

    @speech_rate.setter
    def speech_rate(self, rate: float) -> None:
        self.options = dataclasses.replace(self.options, speech_rate=rate)

    def _synthesis_config(self) -> Any:
        from piper import SynthesisConfig

        voice_config = self.voice.config
        rate = min(max(self.options.speech_rate, 0.25), 4.0)
        return SynthesisConfig(
            length_scale=voice_config.length_scale / rate,
            noise_scale=None if self.options.noise_scale < 0 else self.options.noise_scale,
            noise_w_scale=None if self.options.noise_w_scale < 0 else self.options.noise_w_scale,
            volume=self.options.volume,
        )

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        text = clean_for_speech(text)
        if not text:
            return
        for chunk in self.voice.synthesize(text, self._synthesis_config()):
            yield AudioChunk(chunk.audio_float_array, chunk.sample_rate, text=text)
