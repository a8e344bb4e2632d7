"""OpenCV, imported when first needed."""

from __future__ import annotations

from typing import Any


def import_cv2() -> Any:
    import cv2

    # OpenCV's own warnings (a camera index that is not there) would reach the user's screen reader.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    return cv2
