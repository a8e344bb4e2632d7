"""A video for live reading: a blank wall, then a sign, then another sign, then a page of small text.

    python -m tools.live_video OUT.avi

Each scene is drawn with Pillow's own scalable font on light paper, with a little camera noise, as MJPEG at
10 frames a second. `SCENES` says when each text comes into view, so that a test or a benchmark can time how long
it took to be spoken.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FPS = 10
CANVAS = (1280, 720)


@dataclass(frozen=True)
class Scene:
    lines: tuple[str, ...]
    size: int
    """Text height in pixels."""
    seconds: float

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


PAGE = (
    "Dear customer,",
    "Your prescription is ready to collect",
    "from Monday 14 March at the counter.",
    "Please bring this letter and a photo ID.",
    "Opening hours: 9 am to 6 pm, Monday to Saturday.",
    "Questions? Call 020 7946 0018.",
)
SCENES = (
    Scene((), 0, 2.0),
    Scene(("PHARMACY", "Open until 9 pm"), 72, 4.0),
    Scene(("PLATFORM 4", "Trains to Leeds"), 72, 4.0),
    Scene(PAGE, 30, 7.0),
)


def appears_ms(scenes: tuple[Scene, ...] = SCENES) -> list[tuple[Scene, float]]:
    """Each scene with text, and the video time its first frame shows."""
    shown, start = [], 0.0
    for scene in scenes:
        if scene.lines:
            shown.append((scene, start * 1000))
        start += scene.seconds
    return shown


def _picture(scene: Scene, noise: np.random.Generator) -> np.ndarray:
    image = Image.new("RGB", CANVAS, (228, 226, 220))
    if scene.lines:
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default(size=scene.size)
        top = (CANVAS[1] - round(len(scene.lines) * scene.size * 1.5)) // 2
        for index, line in enumerate(scene.lines):
            left = (CANVAS[0] - round(draw.textlength(line, font=font))) // 2
            draw.text((left, top + round(index * scene.size * 1.5)), line, fill=(25, 25, 30), font=font)
    frame = np.asarray(image, np.int16) + noise.normal(0, 3, (CANVAS[1], CANVAS[0], 3)).astype(np.int16)
    return cv2.cvtColor(np.clip(frame, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)


def write_live_video(path: Path, scenes: tuple[Scene, ...] = SCENES) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, CANVAS)
    if not writer.isOpened():
        raise OSError(f"cannot write {path}")
    noise = np.random.default_rng(0)
    for scene in scenes:
        for _ in range(round(scene.seconds * FPS)):
            writer.write(_picture(scene, noise))
    writer.release()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    write_live_video(parser.parse_args().out)


if __name__ == "__main__":
    main()
