"""The seams: each stage has a real implementation and a file-backed one."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from assistant.presets import Preset
from assistant.types import AudioChunk, AudioClip, Frame, Transcript


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


class VisionChat(Protocol):
    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
        """Yield the answer's text pieces as they are generated."""

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        """How many context tokens these messages take, images included."""

    def close(self) -> None: ...


class Synthesizer(Protocol):
    @property
    def sample_rate(self) -> int: ...

    speech_rate: float
    """1.0 is the voice's own speed."""

    def synthesize(self, text: str) -> Iterator[AudioChunk]:
        """One chunk per sentence."""
