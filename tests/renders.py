"""Pictures of text the OCR tests render for themselves, with Pillow's own scalable font or a CJK system font."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
CJK_FONTS = ("wqy-microhei.ttc", "wqy-zenhei.ttc", "NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf")


def cjk_font_path() -> Path | None:
    """A font with Chinese glyphs: setup.sh installs fonts-wqy-microhei for these tests."""
    for folder in FONT_DIRS:
        for name in CJK_FONTS:
            found = next(folder.rglob(name), None) if folder.is_dir() else None
            if found is not None:
                return found
    return None


def font(size: int, path: Path | None = None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(str(path), size) if path else ImageFont.load_default(size=size)


Placed = tuple[str, int, int]
"""(text, x, y): a piece of text and where its top-left goes."""


def render(
    pieces: list[Placed],
    size: int,
    canvas: tuple[int, int] = (1280, 720),
    font_path: Path | None = None,
    ink: int = 20,
    paper: int = 235,
) -> np.ndarray:
    """Dark text on light paper, BGR as a camera gives it."""
    image = Image.new("RGB", canvas, (paper, paper, paper))
    draw = ImageDraw.Draw(image)
    face = font(size, font_path)
    for text, x, y in pieces:
        draw.text((x, y), text, fill=(ink, ink, ink), font=face)
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


def lines_at(lines: list[str], size: int, left: int = 40, top: int = 40, spacing: float = 1.6) -> list[Placed]:
    return [(line, left, top + round(i * size * spacing)) for i, line in enumerate(lines)]


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderValue=(250, 250, 250))


def cer(expected: str, got: str) -> float:
    """Character error rate: edit distance over the expected length, whitespace ignored."""
    a, b = "".join(expected.split()), "".join(got.split())
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] / max(1, len(a))
