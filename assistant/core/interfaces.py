"""The seams: each stage has a real implementation and a file-backed one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from assistant.core.presets import Preset
from assistant.core.reading import Reading
from assistant.core.types import AudioChunk, AudioClip, Colour, Fit, Frame, PromptCost, Quality, Transcript


class AudioSource(Protocol):
    def start(self) -> None:
        """Begin recording (button down)."""

    def stop(self) -> AudioClip:
        """End recording (button up) and return what was heard."""


class AudioSink(Protocol):
    def play(self, chunks: Iterable[AudioChunk], cancel: threading.Event | None = None) -> int:
        """Play chunks in order until done or cancelled; return how many were fully played."""

    def cue(self, sound: AudioChunk) -> None:
        """Start a short sound (an earcon) now, without waiting for it to end."""

    def close(self) -> None: ...


class FrameSource(Protocol):
    def grab(self) -> Frame:
        """The picture at this moment."""

    def close(self) -> None: ...


class Transcriber(Protocol):
    def transcribe(self, clip: AudioClip) -> Transcript: ...


@runtime_checkable
class ScoringTranscriber(Transcriber, Protocol):
    def score(self, clip: AudioClip, texts: Sequence[str], language: str = "") -> list[Fit] | None:
        """How well each text fits the speech in `clip`, which was just transcribed (see commands.by_sound)."""


class VisionChat(Protocol):
    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
        """Yield the answer's text pieces as they are generated."""

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        """How many context tokens these messages take, images included."""

    def close(self) -> None: ...


@runtime_checkable
class PreparingChat(VisionChat, Protocol):
    """A vision model that can take a picture in before the question: its KV cache is kept between calls."""

    @property
    def pixels_per_token(self) -> int:
        """The side, in pixels, of the square one image token covers."""

    @property
    def cost(self) -> PromptCost:
        """What evaluating the last prompt cost."""

    def prefill(
        self, messages: list[dict[str, Any]], stop: Callable[[], bool] | None = None, then_text: str = ""
    ) -> PromptCost | None:
        """Evaluate the messages up to the end of their last picture, and `then_text` where it follows the picture,
        asking `stop` before each picture; None when nothing can be kept."""


@runtime_checkable
class RemoteChat(VisionChat, Protocol):
    """A vision model on another machine."""

    def check(self) -> str:
        """Ask the server which model answers; raise a ModelError saying why none can."""


class Synthesizer(Protocol):
    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str, speech_rate: float = 1.0) -> Iterator[AudioChunk]:
        """One chunk per sentence, at `speech_rate` times the voice's own speed."""


class TextReader(Protocol):
    def read(self, image: np.ndarray) -> Reading:
        """The text in a BGR picture, in reading order; an empty Reading when there is none."""


class Sight(Protocol):
    """What a picture tells without any model, and the copy of it that goes to the model."""

    def quality(self, image: np.ndarray) -> Quality: ...

    def luminance(self, image: np.ndarray) -> float: ...

    def colour(self, image: np.ndarray) -> Colour:
        """The main colour in the middle of the picture."""

    def faces(self, image: np.ndarray) -> int: ...

    def for_model(self, frame: Frame, image_tokens: int = 0, pixels_per_token: int = 32) -> Frame:
        """The downscaled copy the model is given: within `image_tokens` image tokens of `pixels_per_token`
        pixels a side, when a budget is given."""

    def view_change(self, before: Frame, after: Frame) -> float:
        """How much the view changed between two pictures, 0 (the same) to 1."""

    def data_url(self, frame: Frame) -> str:
        """The frame as a data: URL, the only kind of image URL the model is given."""


class Cues(Protocol):
    """Short sounds for each state, and the light tone."""

    def __call__(self, name: str) -> AudioChunk | None:
        """The named sound, or None when sounds are off."""

    def light_tone(self, level: float, seconds: float, phase: float) -> tuple[AudioChunk, float]:
        """A steady tone whose pitch follows the light `level` (0 to 1), and the phase to continue from."""
