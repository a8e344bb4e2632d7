"""Short sounds for each state, made with numpy: ready, listening, thinking, still thinking, error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assistant.core.types import AudioChunk

SAMPLE_RATE = 22_050


def _tone(start_hz: float, end_hz: float, seconds: float, level: float) -> np.ndarray:
    """A sine sweep with a 5 ms fade at each end, so it never clicks."""
    n = int(SAMPLE_RATE * seconds)
    phase = 2 * np.pi * np.cumsum(np.linspace(start_hz, end_hz, n)) / SAMPLE_RATE
    envelope = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.005 * SAMPLE_RATE))
    return (level * envelope * np.sin(phase)).astype(np.float32)


def steady_tone(hz: float, seconds: float, level: float, phase: float = 0.0) -> tuple[np.ndarray, float]:
    """A sine at `hz` that starts at `phase`; returns it and the phase to go on from, so that pieces played one
    after another join without a click even when the pitch changes between them."""
    phases = phase + 2 * np.pi * hz * np.arange(1, int(SAMPLE_RATE * seconds) + 1) / SAMPLE_RATE
    return (level * np.sin(phases)).astype(np.float32), float(phases[-1] % (2 * np.pi))


LOWEST_HZ, OCTAVES = 220.0, 3.0


def light_pitch(level: float) -> float:
    """The light tone's pitch: 220 Hz in the dark, up three octaves to 1760 Hz in full light."""
    return LOWEST_HZ * 2 ** (OCTAVES * min(1.0, max(0.0, level)))


def _gap(seconds: float) -> np.ndarray:
    return np.zeros(int(SAMPLE_RATE * seconds), np.float32)


_SHAPES = {
    "ready": lambda: np.concatenate([_tone(523, 523, 0.09, 1.0), _gap(0.03), _tone(784, 784, 0.12, 1.0)]),
    "listening": lambda: _tone(600, 950, 0.12, 1.0),
    "thinking": lambda: _tone(950, 600, 0.12, 1.0),
    "tick": lambda: _tone(1400, 1400, 0.025, 0.5),
    "error": lambda: np.concatenate([_tone(330, 330, 0.14, 1.0), _gap(0.04), _tone(220, 220, 0.2, 1.0)]),
}
NAMES = tuple(_SHAPES)


@dataclass(frozen=True)
class Earcons:
    volume: float = 0.3
    """0 to 1; 0 or enabled=False keeps them quiet."""
    enabled: bool = True

    def __call__(self, name: str) -> AudioChunk | None:
        """The named sound, or None when earcons are off."""
        if not self.enabled or self.volume <= 0:
            return None
        samples = _SHAPES[name]() * min(self.volume, 1.0)
        return AudioChunk(samples.astype(np.float32), SAMPLE_RATE, text=name, kind="cue")

    def light_tone(self, level: float, seconds: float, phase: float) -> tuple[AudioChunk, float]:
        """Played even when the state sounds are off: light mode is asked for."""
        pitch = light_pitch(level)
        samples, phase = steady_tone(pitch, seconds, self.volume if self.volume > 0 else 0.3, phase)
        return AudioChunk(samples, SAMPLE_RATE, text=f"light {pitch:.0f} Hz", kind="cue"), phase
