"""The data that flows through one turn."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np


@dataclass(frozen=True)
class AudioClip:
    """A recording: mono float32 samples in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class AudioChunk:
    """A piece of speech to play: mono float32 samples in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int
    text: str = ""
    kind: str = "speech"
    """"speech", or "cue" for an earcon."""


@dataclass(frozen=True)
class Frame:
    """One camera picture, BGR uint8 as OpenCV gives it."""

    image: np.ndarray
    source: str = ""
    time_ms: float | None = None
    """When it was taken, on its source's clock: a video's own time; None from a camera."""

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.image).tobytes()).hexdigest()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        height, width = self.image.shape[:2]
        return width, height


class Fit(NamedTuple):
    """How well a text fits recorded speech, by whisper's decoder."""

    logprob: float
    """The log-probability of the text's tokens."""
    tokens: int
    end: float = 0.0
    """The log-probability of the text ending there."""


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str = ""
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    speech_s: float = 0.0
    """Seconds of speech the voice activity detector found."""


@dataclass
class Turn:
    """What one turn did, as written to the turn log."""

    transcript: str = ""
    answer: str = ""
    preset: str | None = None
    command: str | None = None
    """The local voice command the transcript was, if any: then the vision model is not asked."""
    error: str | None = None
    error_code: str | None = None
    """The error's machine-readable code (assistant.errors), when the turn ended in one."""
    image_sha256: str | None = None
    """The picture the model was given."""
    image_size: list[int] | None = None
    image_tokens: int | None = None
    """The image tokens the vision encoder made of it: the budget as it took effect."""
    prepared: bool | None = None
    """Whether the picture was taken in while the question was spoken; None when none was prepared."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    route: str | None = None
    """The channel that answered a question: read, document, text, light, colour or scene (assistant.core.routing)."""
    text_read: str | None = None
    """The text OCR read in the picture, when it was read."""
    document: Any = None
    """The document asked for, as JSON-ready data: a list of rows or an object of fields."""
    unreadable: list[str] = field(default_factory=list)
    """Where the document's values are null, in words ("row 2, price")."""
    framing: list[str] = field(default_factory=list)
    """What was wrong with the picture (too dark, blurred, text cut off), as spoken."""
    instant: str | None = None
    """What was said at once, before the model's answer: the picture's problems, the text in view."""
    unverified: list[str] = field(default_factory=list)
    """Numbers, prices, doses, dates and names in the model's answer that were not read in the picture."""


@dataclass(frozen=True)
class QualityLimits:
    dark: float = 0.12
    """Mean luminance (0 to 1) below which the picture is too dark to read or describe."""
    bright: float = 0.95
    """Mean luminance above which the picture is washed out."""
    clipped: float = 0.5
    """The picture is washed out, too, when more than this share of it is pure white."""
    blur: float = 60.0
    """Variance of the Laplacian, on a 320-pixel-wide grey copy, below which the picture is blurred."""
    fine_detail: float = 0.03
    """Below four times `blur`, the picture is blurred, too, when its fine edges are less than this share of its
    edges (see perception.fine_detail): shaken or out of focus, though its broad edges stay strong."""


@dataclass(frozen=True)
class Quality:
    luminance: float
    sharpness: float
    too_dark: bool
    too_bright: bool
    blurred: bool


@dataclass(frozen=True)
class Colour:
    english: str
    chinese: str
    share: float
    """The share of the centre's pixels that have this colour."""


@dataclass
class PromptCost:
    """What evaluating a prompt into the vision model's KV cache cost."""

    reused_positions: int = 0
    """Positions kept from the KV cache."""
    evaluated_tokens: int = 0
    """Tokens evaluated now, pictures' tokens included."""
    image_tokens: int = 0
    """The tokens of the prompt's pictures, as the vision encoder made them: the budget that took effect."""
    image_encode_ms: float = 0.0
    prefill_ms: float = 0.0
    """Decoding the new text and picture tokens, without encoding pictures."""
    images_encoded: int = 0
    images_from_cache: int = 0
