"""Pictures: an OpenCV camera kept open, and video or image files that stand in for it."""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.types import Frame
from assistant.errors import BadInputError, DeviceError, TooLargeError, VideoEndedError
from assistant.see.cv import import_cv2

_LOGGER = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


def downscale(image: np.ndarray, max_short_side: int) -> np.ndarray:
    """Shrink so the short side is at most max_short_side pixels; smaller images are left alone."""
    height, width = image.shape[:2]
    short = min(height, width)
    if short <= max_short_side:
        return image
    scale = max_short_side / short
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return import_cv2().resize(image, size, interpolation=import_cv2().INTER_AREA)


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = import_cv2().imencode(".jpg", image, [import_cv2().IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise BadInputError("I can't prepare the picture for the vision model.")
    return bytes(buffer)


MAX_FILE_PIXELS = 40_000_000
"""A picture file larger than this (width times height) is refused before it is decoded."""


def read_image_file(path: Path, max_pixels: int = MAX_FILE_PIXELS) -> np.ndarray:
    if not path.is_file():
        raise BadInputError(f"The picture {path.name} does not exist.")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BadInputError(f"I can't read the picture {path.name}: {e.strerror}.") from e
    return decode_image_bytes(data, max_pixels, f"the picture {path.name}").image


def decode_image_bytes(data: bytes, max_pixels: int, what: str = "the picture") -> Frame:
    """An uploaded picture, refused before decoding when it is larger than max_pixels."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # Pillow's own bomb check refuses without the size; ours follows, before decoding
    try:
        with Image.open(io.BytesIO(data)) as header:  # reads the size only
            width, height = header.size
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise BadInputError(f"I can't read {what}: it is not an image I understand.") from e
    if width * height > max_pixels:
        raise TooLargeError(
            f"{what.capitalize()} is too large: {width} by {height} pixels.",
            f"Send one of at most {max_pixels // 1_000_000} megapixels.",
        )
    image = import_cv2().imdecode(np.frombuffer(data, np.uint8), import_cv2().IMREAD_COLOR)
    if image is None:
        raise BadInputError(f"I can't read {what}: it is not an image I understand.")
    return Frame(image, source="upload")


class OpenCVCamera:
    """A camera opened once and kept open, so a grab at button-up costs one frame, not a start-up."""

    def __init__(self, index: int) -> None:
        self.index = index
        self._capture: Any = None

    def open(self) -> None:
        cv2 = import_cv2()
        capture = cv2.VideoCapture(self.index)
        if not capture.isOpened():
            capture.release()
            raise DeviceError(
                f"I can't see: camera {self.index} is not connected.",
                "Plug a camera in, or set camera.source to another index or a file.",
            )
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._capture = capture

    def grab(self) -> Frame:
        if self._capture is None:
            self.open()
        # Drop the frame the driver may have buffered, so the picture is from now.
        self._capture.grab()
        ok, image = self._capture.read()
        if not ok or image is None:
            raise DeviceError(f"I can't see: camera {self.index} gave no picture.", "Check its cable.")
        return Frame(image, source=f"camera {self.index}")

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class VideoFileSource:
    """Frames decoded from a video file by OpenCV; each grab takes the next frame, rewinding at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._capture: Any = None

    def open(self) -> None:
        if not self.path.is_file():
            raise BadInputError(f"The video {self.path.name} does not exist.")
        capture = import_cv2().VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise BadInputError(f"I can't read the video {self.path.name}: it is not a video I understand.")
        self._capture = capture

    @property
    def fps(self) -> float:
        """Frames a second, as the file says; 30 when it says nothing believable."""
        if self._capture is None:
            self.open()
        fps = float(self._capture.get(import_cv2().CAP_PROP_FPS) or 0)
        return fps if 0 < fps <= 240 else 30.0

    def next_image(self) -> np.ndarray | None:
        """The file's next frame; None at its end."""
        if self._capture is None:
            self.open()
        ok, image = self._capture.read()
        return image if ok else None

    def grab(self) -> Frame:
        image = self.next_image()
        if image is None:
            self._capture.set(import_cv2().CAP_PROP_POS_FRAMES, 0)
            image = self.next_image()
        if image is None:
            raise BadInputError(f"The video {self.path.name} has no pictures I can read.")
        return Frame(image, source=str(self.path.name))

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class PacedVideoSource:
    """A video played at its own pace, as a camera would show it: each grab gives the frame of the moment, counted
    from the first grab, so frames go by while the reader works; at the video's end a VideoEndedError."""

    def __init__(self, path: Path) -> None:
        self.video = VideoFileSource(path)
        self.fps = 30.0
        self._started: float | None = None
        self._index = -1
        self._image: np.ndarray | None = None

    def open(self) -> None:
        self.video.open()
        self.fps = self.video.fps

    def clock_ms(self) -> float:
        """The video's time now: milliseconds since the first grab."""
        return 0.0 if self._started is None else (time.monotonic() - self._started) * 1000

    def grab(self) -> Frame:
        if self._started is None:
            self.open()
            self._started = time.monotonic()
        due = int(self.clock_ms() / 1000 * self.fps)
        while self._index < due or self._image is None:
            image = self.video.next_image()
            if image is None:
                raise VideoEndedError(f"The video {self.video.path.name} has ended.")
            self._index += 1
            self._image = image
        return Frame(self._image, source=self.video.path.name, time_ms=self._index / self.fps * 1000)

    def close(self) -> None:
        self.video.close()


class ImageFileSource:
    """One still picture, the same at every grab."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> None:
        read_image_file(self.path)

    def grab(self) -> Frame:
        return Frame(read_image_file(self.path), source=self.path.name)

    def close(self) -> None:
        pass


class BurstSource:
    """Several frames in a row from a source, and the sharpest of them: a hand-held camera shakes."""

    def __init__(self, source: OpenCVCamera | VideoFileSource | ImageFileSource, count: int) -> None:
        self.source = source
        self.count = max(1, count)

    def open(self) -> None:
        self.source.open()

    def grab(self) -> Frame:
        from assistant.see.perception import sharpest

        frames = [self.source.grab() for _ in range(self.count)]
        return frames[sharpest([frame.image for frame in frames])]

    def close(self) -> None:
        self.source.close()


def frame_source(spec: str) -> OpenCVCamera | VideoFileSource | ImageFileSource:
    """A camera index ("0"), an image file, or a video file."""
    if spec.strip().isdigit():
        return OpenCVCamera(int(spec))
    path = Path(spec).expanduser()
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFileSource(path)
    return VideoFileSource(path)


def token_grid(width: int, height: int, image_tokens: int, pixels_per_token: int) -> tuple[int, int]:
    """Columns and rows of image tokens for a picture of this size within the budget, keeping its shape; never
    more than the picture has."""
    columns, rows = max(1, width // pixels_per_token), max(1, height // pixels_per_token)
    if columns * rows <= image_tokens:
        return columns, rows
    columns = min(columns, max(1, round((image_tokens * width / height) ** 0.5)))
    return columns, min(rows, max(1, image_tokens // columns))


def prepare_frame(frame: Frame, max_short_side: int, image_tokens: int = 0, pixels_per_token: int = 32) -> Frame:
    """The copy that goes to the model: at most max_short_side on its short side and, with a budget, at most
    `image_tokens` image tokens, its sides whole tokens so that the encoder takes it as it is."""
    image = downscale(frame.image, max_short_side)
    if image_tokens > 0:
        height, width = image.shape[:2]
        columns, rows = token_grid(width, height, image_tokens, pixels_per_token)
        if (columns, rows) != token_grid(width, height, width * height, pixels_per_token):  # over its budget
            size = (columns * pixels_per_token, rows * pixels_per_token)
            image = import_cv2().resize(image, size, interpolation=import_cv2().INTER_AREA)
    return Frame(image, source=frame.source)


def frame_data_url(frame: Frame) -> str:
    """The frame as a data: URL, the only kind of image URL the vision model is given."""
    import base64

    return "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(frame.image)).decode("ascii")
