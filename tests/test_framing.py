"""Framing hints must name real faults and stay quiet on look-alikes: each hint on a real failure (an over-exposed
photo, a shaken or defocused one) and on a picture that only resembles one (a white printed page, a faint sign)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from renders import lines_at, render
from skimage import data

from assistant.cli.factory import assemble_engine
from assistant.cli.runner import DiscardSink
from assistant.core.phrases import BOOKS
from assistant.core.types import Frame
from assistant.hear.stt import WhisperTranscriber
from assistant.see import perception
from assistant.see.ocr import TextReader
from assistant.speak.tts import PiperSynthesizer

EN = BOOKS["en"]
SHAKE = np.full((1, 25), 1 / 25, np.float32)
"""A horizontal shake of 25 pixels."""


def _bgr(image: np.ndarray) -> np.ndarray:
    image = image if image.ndim == 3 else np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3][..., ::-1])


PHOTOS = ["camera", "astronaut", "coffee", "chelsea", "coins", "brick", "gravel"]


@pytest.mark.parametrize("name", PHOTOS)
def test_a_sharp_photo_is_not_blurred_and_a_shaken_or_defocused_one_is(name: str) -> None:
    photo = _bgr(getattr(data, name)())
    assert not perception.quality(photo).blurred, "sharp"
    assert perception.quality(cv2.filter2D(photo, -1, SHAKE)).blurred, "shaken sideways"
    assert perception.quality(cv2.filter2D(photo, -1, SHAKE.T)).blurred, "shaken up and down"
    assert perception.quality(cv2.GaussianBlur(photo, (0, 0), 3)).blurred, "out of focus"


ROWS = ["Item      Qty   Price", "Coffee    2     3.20", "Tea       1     2.80", "Cake      3     4.50"]


def _white_table() -> np.ndarray:
    return render(lines_at(ROWS, 40, 80, 80), 40, ink=30, paper=255)


def _faint_sign() -> np.ndarray:
    return cv2.GaussianBlur(render([("EXIT", 420, 250)], 160, ink=150, paper=205), (5, 5), 0)


def _over_exposed() -> np.ndarray:
    photo = cv2.resize(_bgr(data.astronaut()), (1280, 720))
    return np.clip(photo.astype(np.float32) * 4 + 80, 0, 255).astype(np.uint8)


def _shaken() -> np.ndarray:
    return cv2.filter2D(cv2.resize(_bgr(data.chelsea()), (1280, 720)), -1, SHAKE)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("picture", "measured", "hint", "heard"),
    [
        (_over_exposed, "too_bright", EN.washed_out, True),
        (_white_table, "too_bright", EN.washed_out, False),
        (_shaken, "blurred", EN.blurred, True),
        (_faint_sign, "blurred", EN.blurred, False),
    ],
    ids=["over-exposed-photo", "white-printed-table", "shaken-photo", "faint-sign-read-well"],
)
def test_a_hint_is_given_for_a_real_fault_and_not_for_a_look_alike(
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    reader: TextReader,
    picture: Callable[[], np.ndarray],
    measured: str,
    hint: str,
    heard: bool,
    tmp_path: Path,
) -> None:
    image = picture()
    assert getattr(perception.quality(image), measured), "the measurement alone would warn"
    session = assemble_engine(transcriber, synthesizer, reader=reader).session(DiscardSink())
    turn = session.answer_text("What is in front of me?", Frame(image))
    assert turn.error is None
    assert (hint in turn.framing) is heard, turn.framing
    if not heard:
        assert turn.text_read, "the look-alike's text was read, and read well"
