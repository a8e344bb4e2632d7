"""Real RapidOCR on pictures the tests render, and on the photos that ship in scikit-image."""

import cv2
import numpy as np
import pytest
from renders import cer, cjk_font_path, lines_at, render, rotate
from skimage import data

from assistant.core.reading import Reading, TextLine, edges_touched, keep, layout
from assistant.see.ocr import TextReader

LETTER = [
    "Dear Ms. Smith,",
    "Thank you for your letter of 3 May.",
    "Your order 4521 shipped today",
    "and should arrive by Friday.",
    "Yours sincerely,",
    "John Carter",
]


def _bgr(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)


@pytest.mark.slow
@pytest.mark.parametrize("size", [14, 20, 32, 48])
def test_a_letter_is_read_in_order_at_every_size(reader: TextReader, size: int) -> None:
    reading = reader.read(render(lines_at(LETTER, size), size))
    assert cer("\n".join(LETTER), reading.text) <= 0.02, reading.text
    assert [" ".join(line.text for line in row) for row in reading.rows] == LETTER


@pytest.mark.parametrize("size", [18, 64])
def test_a_second_font_is_read_too(reader: TextReader, size: int) -> None:
    font = cjk_font_path()
    assert font is not None, "no CJK font (it has Latin letters too): run ./setup.sh (it installs fonts-wqy-microhei)"
    lines = LETTER[:4]
    reading = reader.read(render(lines_at(lines, size), size, canvas=(1600, 720), font_path=font))
    assert cer("\n".join(lines), reading.text) <= 0.02, reading.text
    assert [" ".join(line.text for line in row) for row in reading.rows] == lines


def test_big_sign_text_and_a_sign_of_two_lines(reader: TextReader) -> None:
    reading = reader.read(render([("EXIT", 420, 200), ("Way out", 400, 340)], 80))
    assert reading.text.split("\n") == ["EXIT", "Way out"]
    assert all(line.score > 0.9 for line in reading.lines)


def test_blocks_are_read_top_to_bottom_and_rows_left_to_right(reader: TextReader) -> None:
    pieces = [
        ("OPENING HOURS", 100, 60),
        ("Monday", 100, 200),
        ("9 to 5", 700, 200),
        ("Saturday", 100, 260),
        ("10 to 2", 700, 260),
        ("Closed on Sundays", 100, 500),
    ]
    reading = reader.read(render(pieces, 36))
    assert [block.text for block in reading.blocks] == [
        "OPENING HOURS",
        "Monday 9 to 5\nSaturday 10 to 2",
        "Closed on Sundays",
    ]


@pytest.mark.parametrize("degrees", [10, -10])
def test_tilted_text_is_read(reader: TextReader, degrees: float) -> None:
    image = rotate(render(lines_at(LETTER, 32, left=200, top=160), 32), degrees)
    reading = reader.read(image)
    assert cer("\n".join(LETTER), reading.text) <= 0.05, reading.text
    assert [" ".join(line.text for line in row) for row in reading.rows] == LETTER


def test_low_contrast_text_is_read(reader: TextReader) -> None:
    image = render(lines_at(LETTER, 32), 32, ink=150, paper=190)
    assert cer("\n".join(LETTER), reader.read(image).text) <= 0.05


def test_chinese_text_is_read() -> None:
    font = cjk_font_path()
    assert font is not None, "no Chinese font: run ./setup.sh (it installs fonts-wqy-microhei)"
    lines = ["出口", "请勿吸烟", "营业时间：上午九点至下午六点"]
    reading = TextReader().read(render(lines_at(lines, 48), 48, font_path=font))
    assert cer("\n".join(lines), reading.text) <= 0.02, reading.text
    assert reading.text.split("\n") == lines


@pytest.mark.slow
def test_the_page_photo_is_read_as_a_document(reader: TextReader) -> None:
    reading = reader.read(_bgr(data.page()))
    text = reading.text
    assert reading.rows[0][0].text == "Region-based segmentation"
    for phrase in ("Let us first determine markers of the coins", "histogram of grey values"):
        assert phrase in text
    assert text.index("Region-based") < text.index("Let us first") < text.index("histogram")


@pytest.mark.parametrize("photo", ["chelsea", "coffee", "astronaut"])
def test_photos_without_text_give_no_false_text(reader: TextReader, photo: str) -> None:
    reading = reader.read(_bgr(getattr(data, photo)()))
    assert not reading, reading.text
    assert reading.text == ""


def test_an_empty_picture_gives_an_empty_reading(reader: TextReader) -> None:
    reading = reader.read(np.full((480, 640, 3), 255, np.uint8))
    assert not reading and reading.lines == [] and reading.blocks == ()


def test_text_at_an_edge_is_reported_with_the_edge(reader: TextReader) -> None:
    cut = reader.read(render([("Emergency exit on the left", 1000, 300)], 48))
    assert edges_touched(cut) == ["right"]
    whole = reader.read(render([("Emergency exit", 400, 300)], 48))
    assert whole.text == "Emergency exit"
    assert edges_touched(whole) == []


def _line(text: str, score: float, left: float, top: float, right: float, bottom: float) -> TextLine:
    return TextLine(text, score, ((left, top), (right, top), (right, bottom), (left, bottom)))


def test_specks_and_unsure_lines_are_dropped() -> None:
    assert keep(_line("Milk", 0.7, 10, 10, 90, 40), 640, 480)
    assert not keep(_line("Milk", 0.5, 10, 10, 90, 40), 640, 480), "below the minimum score"
    assert not keep(_line("0", 0.9, 100, 70, 220, 160), 640, 480), "a lone character needs 0.95"
    assert not keep(_line("8", 0.99, 0, 0, 600, 400), 640, 480), "a letter the size of the picture is a shape"
    assert keep(_line("5", 0.99, 100, 100, 130, 140), 640, 480)


def test_layout_keeps_a_tilted_row_together_and_parts_blocks_by_gap() -> None:
    lines = [
        _line("second", 0.9, 10, 130, 200, 160),
        _line("right", 0.9, 300, 12, 400, 42),
        _line("left", 0.9, 10, 10, 200, 40),
        _line("third", 0.9, 10, 170, 200, 200),
    ]
    reading = layout(lines, 640, 480)
    assert isinstance(reading, Reading)
    assert [block.text for block in reading.blocks] == ["left right", "second\nthird"]
