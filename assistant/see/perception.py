"""What a picture tells without any model: light level, colour, sharpness, faces. Plain OpenCV, a few ms each."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from assistant.core.types import Colour, Quality, QualityLimits
from assistant.see.cv import import_cv2

_SMALL = 320
"""Measurements run on a copy this many pixels wide, at most: the answers do not change, the time does."""


def _small_grey(image: np.ndarray) -> np.ndarray:
    cv2 = import_cv2()
    height, width = image.shape[:2]
    if width > _SMALL:
        image = cv2.resize(image, (_SMALL, max(1, round(height * _SMALL / width))), interpolation=cv2.INTER_AREA)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def luminance(image: np.ndarray) -> float:
    """Mean brightness, 0 (black) to 1 (white)."""
    return float(_small_grey(image).mean()) / 255.0


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian: high for crisp edges, low for blur (and for a bare wall)."""
    cv2 = import_cv2()
    return float(cv2.Laplacian(_small_grey(image), cv2.CV_64F).var())


def fine_detail(image: np.ndarray) -> float:
    """The share of the picture's edges that are fine: the Laplacian's variance over the gradient's energy. A
    blurred or shaken picture keeps its broad edges and loses its fine ones, so this falls where the Laplacian
    alone, on a picture with strong broad edges, can stay high."""
    cv2 = import_cv2()
    grey = _small_grey(image).astype(np.float32)
    energy = float(np.mean(cv2.Sobel(grey, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(grey, cv2.CV_32F, 0, 1) ** 2))
    if energy < 1.0:
        return 1.0  # a bare surface: nothing to be blurred
    return float(cv2.Laplacian(grey, cv2.CV_32F).var()) / energy


def quality(image: np.ndarray, limits: QualityLimits | None = None) -> Quality:
    limits = limits or QualityLimits()
    grey = _small_grey(image)
    light, sharp = luminance(grey), sharpness(grey)
    washed = light > limits.bright or float((grey >= 254).mean()) > limits.clipped
    # Fine detail decides between the blur limit and four times it: sharper than that, a picture is not blurred
    # (bricks and bark have little fine detail, yet are sharp).
    blurred = sharp < limits.blur or (sharp < 4 * limits.blur and fine_detail(grey) < limits.fine_detail)
    return Quality(light, sharp, light < limits.dark, washed, blurred)


def view_change(before: np.ndarray, after: np.ndarray) -> float:
    """How much the view changed between two pictures, 0 (the same) to 1: the mean difference of small, blurred
    grey copies, so that sensor noise and a flicker of light count for little and a moved camera for much."""
    cv2 = import_cv2()

    def small(image: np.ndarray) -> np.ndarray:
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(cv2.resize(grey, (32, 24), interpolation=cv2.INTER_AREA), (3, 3), 0).astype(np.float32)

    return float(np.mean(np.abs(small(before) - small(after)))) / 255


def sharpest(images: Sequence[np.ndarray]) -> int:
    """The index of the sharpest picture of a burst."""
    return max(range(len(images)), key=lambda i: sharpness(images[i]))


# -- colour ------------------------------------------------------------------------------------------------

_HUES = (  # (upper hue in degrees, name): OpenCV's hue is half of this
    (15, "red"),
    (40, "orange"),
    (70, "yellow"),
    (160, "green"),
    (195, "turquoise"),
    (255, "blue"),
    (290, "purple"),
    (340, "pink"),
    (361, "red"),
)
_GREYS = ("black", "dark grey", "grey", "light grey", "white")
_BASES = ("red", "orange", "yellow", "green", "turquoise", "blue", "purple", "pink", "brown", *_GREYS)
_SHADES = ("", "dark ", "light ")
_ZH = {
    "red": "红色",
    "orange": "橙色",
    "yellow": "黄色",
    "green": "绿色",
    "turquoise": "青色",
    "blue": "蓝色",
    "purple": "紫色",
    "pink": "粉色",
    "brown": "棕色",
    "black": "黑色",
    "dark grey": "深灰色",
    "grey": "灰色",
    "light grey": "浅灰色",
    "white": "白色",
}


def _colour_codes(image: np.ndarray) -> np.ndarray:
    """One code per pixel: base colour * 3 + shade (plain, dark, light)."""
    cv2 = import_cv2()
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0] * 2, hsv[:, 1], hsv[:, 2]
    hue_bins = np.array([top for top, _ in _HUES])
    base = np.array([_BASES.index(name) for _, name in _HUES])[np.searchsorted(hue_bins, hue, side="right")]
    shade = np.where(val < 130, 1, np.where((sat < 120) & (val > 190), 2, 0))
    # Dark orange and dark yellow are what people call brown; so is dull orange.
    brownish = np.isin(base, [_BASES.index("orange"), _BASES.index("yellow")]) & ((val < 150) | (sat < 110))
    base = np.where(brownish & (val < 200), _BASES.index("brown"), base)
    shade = np.where(brownish & (val < 200), np.where(val < 70, 1, 0), shade)
    grey = (sat < 45) | (val < 40) | ((sat < 70) & (val < 90))
    grey_level = np.digitize(val, [50, 100, 160, 230])
    base = np.where(grey, len(_BASES) - len(_GREYS) + grey_level, base)
    shade = np.where(grey, 0, shade)
    return base * len(_SHADES) + shade


def dominant_colour(image: np.ndarray, centre: float = 0.4) -> Colour:
    """The most common named colour in the middle of the picture (`centre` of its width and height)."""
    cv2 = import_cv2()
    height, width = image.shape[:2]
    dy, dx = max(1, round(height * centre / 2)), max(1, round(width * centre / 2))
    middle = image[height // 2 - dy : height // 2 + dy, width // 2 - dx : width // 2 + dx]
    if middle.shape[1] > 64:
        middle = cv2.resize(middle, (64, max(1, round(middle.shape[0] * 64 / middle.shape[1]))), cv2.INTER_AREA)
    counts = np.bincount(_colour_codes(middle), minlength=len(_BASES) * len(_SHADES))
    code = int(counts.argmax())
    base, shade = _BASES[code // len(_SHADES)], _SHADES[code % len(_SHADES)]
    chinese = ("深" if shade == "dark " else "浅" if shade == "light " else "") + _ZH[base]
    if base == "brown" and shade == "dark ":
        chinese = "深棕色"
    return Colour(shade + base, chinese, float(counts[code]) / counts.sum())


# -- faces -------------------------------------------------------------------------------------------------


class FaceCounter:
    """OpenCV's bundled frontal-face Haar cascade, loaded on first use."""

    def __init__(self) -> None:
        self._cascade: Any = None
        self._lock = threading.Lock()

    def count(self, image: np.ndarray) -> int:
        cv2 = import_cv2()
        with self._lock:
            if self._cascade is None:
                self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = min(1.0, 640 / max(grey.shape[:2]))
        if scale < 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        smallest = max(24, round(min(grey.shape[:2]) / 10))
        faces = self._cascade.detectMultiScale(
            cv2.equalizeHist(grey), scaleFactor=1.1, minNeighbors=6, minSize=(smallest, smallest)
        )
        return len(faces)
