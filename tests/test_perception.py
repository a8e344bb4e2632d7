"""Light, colour, sharpness and faces from OpenCV alone, on solid colours, sweeps and skimage's photos."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import scene
from skimage import data

from assistant.config import CameraConfig
from assistant.core.phrases import BOOKS
from assistant.core.types import QualityLimits
from assistant.see import perception
from assistant.see.camera import BurstSource, VideoFileSource
from assistant.speak.earcons import light_pitch


def _bgr(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)


def _solid(bgr: tuple[int, int, int]) -> np.ndarray:
    return np.full((480, 640, 3), bgr, np.uint8)


@pytest.mark.parametrize(
    ("bgr", "english", "chinese"),
    [
        ((200, 0, 0), "blue", "蓝色"),
        ((120, 0, 0), "dark blue", "深蓝色"),
        ((230, 180, 130), "light blue", "浅蓝色"),
        ((0, 0, 200), "red", "红色"),
        ((0, 200, 0), "green", "绿色"),
        ((0, 220, 230), "yellow", "黄色"),
        ((0, 128, 255), "orange", "橙色"),
        ((30, 60, 110), "brown", "棕色"),
        ((180, 105, 255), "pink", "粉色"),
        ((160, 50, 120), "purple", "紫色"),
        ((200, 200, 0), "turquoise", "青色"),
        ((20, 20, 20), "black", "黑色"),
        ((80, 80, 80), "dark grey", "深灰色"),
        ((128, 128, 128), "grey", "灰色"),
        ((200, 200, 200), "light grey", "浅灰色"),
        ((250, 250, 250), "white", "白色"),
    ],
)
def test_solid_colours_are_named_in_english_and_chinese(bgr: tuple[int, int, int], english: str, chinese: str) -> None:
    colour = perception.dominant_colour(_solid(bgr))
    assert (colour.english, colour.chinese) == (english, chinese)
    assert colour.share == 1.0


@pytest.mark.parametrize(
    ("photo", "rows", "columns", "english"),
    [
        ("chelsea", slice(100, 150), slice(100, 150), "brown"),  # the cat's fur
        ("rocket", slice(0, 60), slice(0, 300), "dark blue"),  # the evening sky
        ("coffee", slice(0, 50), slice(100, 200), "orange"),  # the table top
        ("page", slice(0, 191), slice(0, 384), "light grey"),  # the paper
    ],
)
def test_photo_patches_are_named_by_their_main_colour(photo: str, rows: slice, columns: slice, english: str) -> None:
    patch = _bgr(getattr(data, photo)())[rows, columns]
    assert perception.dominant_colour(patch, centre=1.0).english == english


def test_only_the_middle_of_the_picture_counts() -> None:
    image = _solid((0, 0, 200))
    image[160:320, 210:430] = (200, 0, 0)
    assert perception.dominant_colour(image).english == "blue"


def test_light_levels_follow_a_brightness_sweep() -> None:
    words = [BOOKS["en"].light_word(perception.luminance(_solid((v, v, v)))) for v in range(0, 256, 15)]
    assert words[0] == "dark" and words[-1] == "very bright"
    order = ["dark", "dim", "bright", "very bright"]
    assert [order.index(w) for w in words] == sorted(order.index(w) for w in words), "never darker as light grows"
    assert set(words) == set(order)
    assert (BOOKS["en"].light_word(0.05), BOOKS["zh"].light_word(0.05)) == ("dark", "很暗")
    assert (BOOKS["en"].light_word(0.5), BOOKS["zh"].light_word(0.5)) == ("bright", "明亮")


def test_the_light_tone_rises_with_the_light() -> None:
    pitches = [light_pitch(level / 10) for level in range(11)]
    assert pitches[0] == 220.0 and pitches[-1] == 1760.0
    assert pitches == sorted(pitches)


@pytest.mark.parametrize("photo", ["chelsea", "coffee", "page", "astronaut", "camera"])
def test_blur_is_detected_across_a_sweep(photo: str) -> None:
    image = _bgr(getattr(data, photo)())
    limits = QualityLimits()
    sharpness = [perception.sharpness(cv2.GaussianBlur(image, (0, 0), s) if s else image) for s in (0, 1, 2, 3, 5)]
    assert sharpness == sorted(sharpness, reverse=True), "more blur, less sharpness"
    assert not perception.quality(image, limits).blurred
    assert sharpness[0] > 3 * limits.blur
    assert all(value < limits.blur for value in sharpness[3:]), "sigma 3 and over is blurred"


def test_the_scene_the_other_tests_use_is_sharp_and_lit() -> None:
    checked = perception.quality(scene(0))
    assert not (checked.blurred or checked.too_dark or checked.too_bright)


def test_dark_and_washed_out_pictures_are_detected_across_a_sweep() -> None:
    photo = _bgr(data.astronaut()).astype(np.float32)
    limits = QualityLimits()
    for gain in (0.02, 0.05, 0.1, 0.2):
        checked = perception.quality((photo * gain).astype(np.uint8), limits)
        assert checked.too_dark == (checked.luminance < limits.dark)
    assert perception.quality((photo * 0.05).astype(np.uint8)).too_dark
    assert not perception.quality(photo.astype(np.uint8)).too_dark
    assert not perception.quality((photo * 0.5).astype(np.uint8)).too_dark
    washed = np.clip(photo * 4 + 80, 0, 255).astype(np.uint8)
    assert perception.quality(washed).too_bright
    dark = perception.quality((photo * 0.05).astype(np.uint8))
    assert BOOKS["en"].framing(dark.too_dark, dark.too_bright, dark.blurred)[0].startswith("It is too dark")
    assert perception.quality(np.zeros((480, 640, 3), np.uint8), QualityLimits(dark=0.0)).too_dark is False


def test_the_sharpest_frame_of_a_burst_is_chosen() -> None:
    sharp = _bgr(data.camera())
    burst = [cv2.GaussianBlur(sharp, (0, 0), s) for s in (4, 2, 3)]
    burst.insert(2, sharp)
    assert perception.sharpest(burst) == 2


def test_a_burst_from_a_video_gives_its_sharpest_frame(tmp_path: Path) -> None:
    path = tmp_path / "shaky.avi"
    sharp = cv2.resize(_bgr(data.camera()), (320, 240))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    for sigma in (4, 3, 0, 5, 2):
        writer.write(cv2.GaussianBlur(sharp, (0, 0), sigma) if sigma else sharp)
    writer.release()
    source = BurstSource(VideoFileSource(path), 5)
    source.open()
    try:
        frame = source.grab()
    finally:
        source.close()
    assert perception.sharpness(frame.image) > 3 * QualityLimits().blur


def test_faces_are_counted_with_the_bundled_cascade() -> None:
    counter = perception.FaceCounter()
    assert counter.count(_bgr(data.astronaut())) == 1
    for photo in ("chelsea", "coffee", "page", "rocket"):
        assert counter.count(_bgr(getattr(data, photo)())) == 0, photo


def test_hints_say_which_way_to_move() -> None:
    assert BOOKS["en"].edge_hint(["right"]) == "Text is cut off at the right edge: move the camera a little right."
    assert BOOKS["en"].edge_hint(["left", "bottom"]).endswith("move the camera a little left and down.")
    assert "拿远" in BOOKS["zh"].edge_hint(["left", "right", "top"])
    assert BOOKS["en"].edge_hint([]) == ""


def test_a_view_change_tells_a_moved_camera_from_a_steady_one() -> None:
    photo = cv2.resize(np.ascontiguousarray(data.astronaut()[..., ::-1]), (640, 480))
    rng = np.random.default_rng(0)
    noisy = np.clip(photo + rng.normal(0, 6, photo.shape), 0, 255).astype(np.uint8)
    tremor = np.roll(photo, 3, axis=(0, 1))
    other = cv2.resize(np.ascontiguousarray(data.chelsea()[..., ::-1]), (640, 480))
    steady = [perception.view_change(photo, changed) for changed in (photo, noisy, tremor)]
    assert steady[0] == 0.0
    moved = CameraConfig().moved
    assert max(steady) < moved < perception.view_change(photo, other)
    assert perception.view_change(photo, np.roll(photo, 200, axis=1)) > moved, "the camera turned"
