from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import scene

from assistant.core.types import Frame
from assistant.errors import BadInputError, DeviceError
from assistant.see.camera import (
    ImageFileSource,
    OpenCVCamera,
    VideoFileSource,
    downscale,
    frame_data_url,
    frame_source,
    prepare_frame,
    token_grid,
)


def test_video_file_is_really_decoded_frame_by_frame_and_rewinds(video_file: Path) -> None:
    source = frame_source(str(video_file))
    assert isinstance(source, VideoFileSource)
    frames = [source.grab() for _ in range(13)]
    source.close()
    assert frames[0].size == (320, 240)
    assert len({f.sha256 for f in frames[:12]}) == 12, "each frame of the video differs"
    # MJPEG is lossy: compare with what was written, within tolerance.
    assert np.abs(frames[3].image.astype(int) - scene(3).astype(int)).mean() < 8
    assert np.abs(frames[12].image.astype(int) - frames[0].image.astype(int)).max() == 0, "rewinds at the end"


def test_image_file_source(image_file: Path) -> None:
    source = frame_source(str(image_file))
    assert isinstance(source, ImageFileSource)
    assert source.grab().sha256 == source.grab().sha256


@pytest.mark.parametrize("name", ["broken.png", "broken.avi"])
def test_unreadable_picture_files_get_a_clear_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"not a picture")
    source = frame_source(str(path))
    with pytest.raises(BadInputError, match=f"I can't read the (picture|video) {name}"):
        source.open()


def test_a_camera_that_is_not_there_is_named() -> None:
    camera = OpenCVCamera(57)
    with pytest.raises(DeviceError, match=r"camera 57 is not connected"):
        camera.open()


def test_frames_are_downscaled_to_768_on_the_short_side() -> None:
    big = np.zeros((1080, 1920, 3), np.uint8)
    assert downscale(big, 768).shape[:2] == (768, 1365)
    small = np.zeros((480, 640, 3), np.uint8)
    assert downscale(small, 768) is small
    tall = Frame(np.zeros((4000, 3000, 3), np.uint8))
    assert prepare_frame(tall, 768).size == (768, 1024)


def test_frames_go_to_the_model_as_jpeg_data_urls() -> None:
    import base64

    url = frame_data_url(Frame(scene(1)))
    assert url.startswith("data:image/jpeg;base64,")
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (240, 320, 3)


@pytest.mark.parametrize(
    ("size", "budget", "pixels", "grid"),
    [
        ((640, 480), 64, 32, (9, 7)),
        ((640, 480), 256, 32, (18, 14)),
        ((640, 480), 768, 32, (20, 15)),
        ((480, 640), 64, 32, (7, 9)),
        ((1365, 768), 768, 28, (37, 20)),
        ((40, 30), 64, 32, (1, 1)),
    ],
    ids=["first-look", "detail", "read-not-upscaled", "portrait", "qwen2.5-28px", "tiny"],
)
def test_the_model_copy_fits_its_image_token_budget(
    size: tuple[int, int], budget: int, pixels: int, grid: tuple[int, int]
) -> None:
    assert token_grid(*size, budget, pixels) == grid
    frame = prepare_frame(Frame(np.zeros((size[1], size[0], 3), np.uint8)), 768, budget, pixels)
    if grid[0] * grid[1] < (size[0] // pixels) * (size[1] // pixels):
        assert frame.size == (grid[0] * pixels, grid[1] * pixels)
    else:
        assert frame.size == size, "a picture within its budget is not resized"
