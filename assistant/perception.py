"""What a picture tells without any model: light level, colour, sharpness, faces. Plain OpenCV, a few ms each."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.camera import _cv2

_SMALL = 320
"""Measurements run on a copy this many pixels wide, at most: the answers do not change, the time does."""


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


@dataclass(frozen=True)
class Quality:
    luminance: float
    sharpness: float
    too_dark: bool
    too_bright: bool
    blurred: bool


def _small_grey(image: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    height, width = image.shape[:2]
    if width > _SMALL:
        image = cv2.resize(image, (_SMALL, max(1, round(height * _SMALL / width))), interpolation=cv2.INTER_AREA)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def luminance(image: np.ndarray) -> float:
    """Mean brightness, 0 (black) to 1 (white)."""
    return float(_small_grey(image).mean()) / 255.0


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian: high for crisp edges, low for blur (and for a bare wall)."""
    cv2 = _cv2()
    return float(cv2.Laplacian(_small_grey(image), cv2.CV_64F).var())


def quality(image: np.ndarray, limits: QualityLimits | None = None) -> Quality:
    limits = limits or QualityLimits()
    grey = _small_grey(image)
    light, sharp = luminance(grey), sharpness(grey)
    washed = light > limits.bright or float((grey >= 254).mean()) > limits.clipped
    return Quality(light, sharp, light < limits.dark, washed, sharp < limits.blur)


def sharpest(images: Sequence[np.ndarray]) -> int:
    """The index of the sharpest picture of a burst."""
    return max(range(len(images)), key=lambda i: sharpness(images[i]))


# -- light -------------------------------------------------------------------------------------------------

LIGHT_WORDS = ((0.12, "dark", "很暗"), (0.35, "dim", "昏暗"), (0.75, "bright", "明亮"), (2.0, "very bright", "非常亮"))


def light_words(level: float) -> tuple[str, str]:
    """The light level in words, (English, Chinese)."""
    return next((en, zh) for top, en, zh in LIGHT_WORDS if level < top)


LOWEST_HZ, OCTAVES = 220.0, 3.0


def light_pitch(level: float) -> float:
    """The light tone's pitch: 220 Hz in the dark, up three octaves to 1760 Hz in full light."""
    return LOWEST_HZ * 2 ** (OCTAVES * min(1.0, max(0.0, level)))


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


@dataclass(frozen=True)
class Colour:
    english: str
    chinese: str
    share: float
    """The share of the centre's pixels that have this colour."""


def _colour_codes(image: np.ndarray) -> np.ndarray:
    """One code per pixel: base colour * 3 + shade (plain, dark, light)."""
    cv2 = _cv2()
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
    cv2 = _cv2()
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
        cv2 = _cv2()
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


# -- words -------------------------------------------------------------------------------------------------


def light_sentence(level: float, chinese: bool = False) -> str:
    english, zh = light_words(level)
    if chinese:
        return f"光线{zh}。"
    return f"It is {english} here." if english in {"dark", "dim"} else f"The light is {english}."


def colour_sentence(colour: Colour, chinese: bool = False) -> str:
    return f"中间的颜色是{colour.chinese}。" if chinese else f"The middle of the picture is {colour.english}."


def framing_hints(checked: Quality, chinese: bool = False) -> list[str]:
    """What is wrong with the picture, and what to do about it; empty when it is fine."""
    hints = []
    if checked.too_dark:
        hints.append(
            "太暗了，看不清。请打开灯，或者把镜头对准有光的地方。"
            if chinese
            else "It is too dark to see. Turn on a light, or point the camera at something lit."
        )
    elif checked.too_bright:
        hints.append(
            "画面太亮了，请避开强光。" if chinese else "The picture is washed out: turn away from the bright light."
        )
    if checked.blurred and not checked.too_dark:
        hints.append("画面模糊，请拿稳。" if chinese else "The picture is blurred: hold the camera still.")
    return hints


_MOVES = {"left": "向左", "right": "向右", "top": "向上", "bottom": "向下"}
_MOVES_EN = {"left": "left", "right": "right", "top": "up", "bottom": "down"}


def edge_hint(edges: list[str], chinese: bool = False) -> str:
    """Text runs into these edges of the picture: which way to move the camera to see all of it."""
    if not edges:
        return ""
    if len(edges) > 2:
        return (
            "文字超出了画面，请把镜头拿远一点。"
            if chinese
            else "The text goes past the picture: move the camera back a little."
        )
    if chinese:
        return "文字在边上被切掉了，请把镜头" + "、".join(_MOVES[edge] for edge in edges) + "移一点。"
    where = " and ".join(edges)
    way = " and ".join(_MOVES_EN[edge] for edge in edges)
    return f"Text is cut off at the {where} edge: move the camera a little {way}."


def no_text_hint(chinese: bool = False) -> str:
    return (
        "我没有找到文字。请把文字对准镜头，距离大约三十厘米。"
        if chinese
        else "I found no text. Hold the text facing the camera, about 30 centimetres away."
    )


def faces_sentence(count: int, chinese: bool = False) -> str:
    if chinese:
        return f"我看到{count}张脸。" if count else "我没有看到人脸。"
    if count == 0:
        return "I see no faces."
    return "I see one face." if count == 1 else f"I see {count} faces."
