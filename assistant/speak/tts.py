"""Text to speech with Piper: one audio chunk per sentence."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.core.speech import clean_for_speech, pieces_for_voice
from assistant.core.types import AudioChunk
from assistant.errors import ModelError

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechOptions:
    """How the voice is loaded; the speech rate is not here: each call gives its session's."""

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

    def _synthesis_config(self, speech_rate: float) -> Any:
        """Piper's per-call config: its length_scale divided by the speech rate."""
        from piper import SynthesisConfig

        voice_config = self.voice.config
        rate = min(max(speech_rate, 0.25), 4.0)
        return SynthesisConfig(
            length_scale=voice_config.length_scale / rate,
            noise_scale=None if self.options.noise_scale < 0 else self.options.noise_scale,
            noise_w_scale=None if self.options.noise_w_scale < 0 else self.options.noise_w_scale,
            volume=self.options.volume,
        )

    def synthesize(self, text: str, speech_rate: float = 1.0) -> Iterator[AudioChunk]:
        text = clean_for_speech(text)
        config = self._synthesis_config(speech_rate)
        for piece in pieces_for_voice(text):
            for chunk in self.voice.synthesize(piece, config):
                yield AudioChunk(chunk.audio_float_array, chunk.sample_rate, text=text)
