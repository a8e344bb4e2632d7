"""Sampling presets, chosen from the question's wording."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Preset:
    name: str
    temperature: float
    top_p: float
    max_tokens: int
    repeat_penalty: float


DESCRIBE = Preset("describe", temperature=0.7, top_p=0.9, max_tokens=256, repeat_penalty=1.1)
VQA = Preset("vqa", temperature=0.6, top_p=0.85, max_tokens=128, repeat_penalty=1.15)
CREATIVE = Preset("creative", temperature=0.9, top_p=0.95, max_tokens=512, repeat_penalty=1.05)
PRESETS = {preset.name: preset for preset in (DESCRIBE, VQA, CREATIVE)}

_CREATIVE = re.compile(r"\b(story|poem|poetry|imagine|invent|creative|joke|caption|song)\b")
_DESCRIBE = re.compile(
    r"\b(describe|description|what('s| is| do you see)? (in front of|around) me|what do you see|"
    r"look around|what('s| is) (here|there|this scene|the scene)|tell me (about|what you see)|"
    r"more detail|in detail)\b"
)
_DESCRIBE_ZH = ("描述", "前面", "周围", "看到什么", "详细")


def choose_preset(
    question: str, temperature_override: float = -1.0, max_tokens_cap: int = 0, base: Preset | None = None
) -> Preset:
    """`describe` for scene questions, `creative` for stories and poems, `vqa` for everything else;
    `base` skips the choice. The overrides then apply."""
    text = question.lower()
    if base is not None:
        preset = base
    elif _CREATIVE.search(text):
        preset = CREATIVE
    elif _DESCRIBE.search(text) or any(word in question for word in _DESCRIBE_ZH):
        preset = DESCRIBE
    else:
        preset = VQA
    if temperature_override >= 0:
        preset = replace(preset, temperature=temperature_override)
    if max_tokens_cap > 0:
        preset = replace(preset, max_tokens=min(preset.max_tokens, max_tokens_cap))
    return preset
