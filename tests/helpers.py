"""Media the tests make for themselves."""

from __future__ import annotations

import socket
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from assistant.cli.factory import make_engine
from assistant.config import Config
from assistant.core.types import AudioClip
from assistant.serve.service import Service


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    if channels > 1:
        data = np.repeat(data[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(data.tobytes())
    return path


def scene(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A frame with shapes and a label that changes with index."""
    image = np.full((height, width, 3), (40 + 10 * index, 90, 160), np.uint8)
    cv2.rectangle(image, (20 + 5 * index, 30), (140 + 5 * index, 150), (0, 200, 255), -1)
    cv2.putText(image, f"EXIT {index}", (160, 200), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return image


def normalise(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def read_wav(path: Path) -> AudioClip:
    """A 16-bit PCM WAV as the WAV sink writes it, at its own rate."""
    with wave.open(str(path), "rb") as reader:
        rate = reader.getframerate()
        data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return AudioClip(data.astype(np.float32) / 32768.0, rate)


@contextmanager
def running_service(config: Config) -> Iterator[Service]:
    """The HTTP service's engine on the configured models, its worker started."""
    engine = make_engine(config)
    service = Service(engine, config.server)
    service.start()
    try:
        yield service
    finally:
        service.stop()
        engine.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def asked(text: str) -> str:
    """A question as the user put it, after what the model was told had been said first (the text in view)."""
    return text.split("\n\n")[-1]


def by_model(answer: str, instant: str | None) -> str:
    """The part of an answer the model wrote, after what was said first: what the conversation remembers."""
    return answer[len(instant) :].lstrip() if instant and answer.startswith(instant) else answer


def text_of(message: dict[str, Any]) -> str:
    """The words of a chat message, whether its content is a string or a list of parts."""
    content = message["content"]
    return content if isinstance(content, str) else " ".join(p["text"] for p in content if p["type"] == "text")
