"""What a picture tells without any model, through OpenCV: the engine's `Sight`."""

from __future__ import annotations

import numpy as np

from assistant.core.types import Colour, Frame, Quality, QualityLimits
from assistant.see import perception
from assistant.see.camera import frame_data_url, prepare_frame


class OpenCVSight:
    def __init__(self, limits: QualityLimits | None = None, max_short_side: int = 768) -> None:
        self.limits = limits or QualityLimits()
        self.max_short_side = max_short_side
        """Pictures are downscaled to this many pixels on their short side before they go to the model."""
        self._faces = perception.FaceCounter()

    def quality(self, image: np.ndarray) -> Quality:
        return perception.quality(image, self.limits)

    def luminance(self, image: np.ndarray) -> float:
        return perception.luminance(image)

    def colour(self, image: np.ndarray) -> Colour:
        return perception.dominant_colour(image)

    def faces(self, image: np.ndarray) -> int:
        return self._faces.count(image)

    def for_model(self, frame: Frame, image_tokens: int = 0, pixels_per_token: int = 32) -> Frame:
        return prepare_frame(frame, self.max_short_side, image_tokens, pixels_per_token)

    def view_change(self, before: Frame, after: Frame) -> float:
        return perception.view_change(before.image, after.image)

    def data_url(self, frame: Frame) -> str:
        return frame_data_url(frame)
