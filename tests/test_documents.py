"""Documents into JSON: real OCR on rendered tables and forms, then rows and columns by geometry."""

import json

import cv2
import numpy as np
import pytest
from renders import lines_at, render

from assistant.core.documents import Document, extract, fields, summary, table
from assistant.core.phrases import BOOKS
from assistant.core.reading import Reading, TextLine, layout
from assistant.see.ocr import TextReader

PRICES = [["Product", "Price"], ["Apple", "$1.20"], ["Bread", "$2.50"], ["Milk", "$0.99"], ["Eggs", "$3.10"]]


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def _price_table(title: str = "") -> np.ndarray:
    pieces = [("FRESH MARKET", 380, 20)] if title else []
    for i, (product, price) in enumerate(PRICES):
        pieces += [(product, 100, 120 + i * 90), (price, 700, 120 + i * 90)]
    return render(pieces, 40)


def _valid(document: Document) -> object:
    return json.loads(document.to_json())


def test_a_price_table_becomes_exactly_its_rows(reader: TextReader) -> None:
    document = extract(reader.read(_price_table(title="yes")), "list the products and their prices")
    assert document.kind == "table"
    assert _valid(document) == [
        {"Product": "Apple", "Price": "$1.20"},
        {"Product": "Bread", "Price": "$2.50"},
        {"Product": "Milk", "Price": "$0.99"},
        {"Product": "Eggs", "Price": "$3.10"},
    ], "the title above the table is not a row"
    assert document.unreadable == []
    assert summary(document, BOOKS["en"]) == "4 items: Apple, $1.20; Bread, $2.50; Milk, $0.99; Eggs, $3.10."


@pytest.mark.parametrize("damage", ["blur", "noise"])
def test_an_unreadable_cell_is_null_and_said_so_and_nothing_is_invented(reader: TextReader, damage: str) -> None:
    image = _price_table()
    cell = image[290:370, 690:900]
    if damage == "blur":
        cell[:] = cv2.GaussianBlur(cell, (0, 0), 7)
    else:
        cell[:] = np.random.default_rng(0).integers(0, 256, cell.shape, dtype=np.uint8)
    document = extract(reader.read(image), "list the products and their prices")
    data = _valid(document)
    assert data[1] == {"Product": "Bread", "Price": None}
    assert [row["Price"] for row in data] == ["$1.20", None, "$0.99", "$3.10"]
    assert document.unreadable == ["row 2, Price"]
    assert "Bread, Price unreadable" in summary(document, BOOKS["en"])


def test_a_form_becomes_an_object_of_its_fields(reader: TextReader) -> None:
    lines = ["Name: Jane Doe", "Date of birth: 12/04/1980", "Policy number: AB-55231", "Phone:"]
    document = extract(reader.read(render(lines_at(lines, 36), 36)), "extract the fields")
    assert document.kind == "fields"
    assert _valid(document) == {
        "Name": "Jane Doe",
        "Date of birth": "12/04/1980",
        "Policy number": "AB-55231",
        "Phone": None,
    }
    assert summary(document, BOOKS["en"]).startswith("4 fields: Name: Jane Doe;")
    assert summary(document, BOOKS["en"]).endswith("Phone: unreadable.")
    assert summary(document, BOOKS["zh"]).startswith("4个字段：")


def _line(text: str, score: float, left: float, top: float, right: float, bottom: float) -> TextLine:
    return TextLine(text, score, ((left, top), (right, top), (right, bottom), (left, bottom)))


def test_an_unsure_reading_in_a_cell_makes_it_null() -> None:
    lines = [
        _line("Item", 0.99, 10, 10, 90, 40),
        _line("Qty", 0.99, 300, 10, 360, 40),
        _line("Soap", 0.99, 10, 60, 90, 90),
        _line("2", 0.99, 320, 60, 340, 90),
        _line("Rice", 0.99, 10, 110, 90, 140),
    ]
    unsure = (_line("7", 0.4, 320, 110, 340, 140),)
    document = table(Reading(layout(lines, 640, 480).blocks, 640, 480, unsure=unsure))
    assert _valid(document) == [{"Item": "Soap", "Qty": "2"}, {"Item": "Rice", "Qty": None}]
    assert document.unreadable == ["row 2, Qty"]
    assert "7" not in document.to_json(), "an unsure reading is never given as a value"


@pytest.mark.parametrize(
    "reading",
    [
        Reading((), 640, 480),
        layout([_line("just a line", 0.9, 10, 10, 200, 40)], 640, 480),
        layout([_line('He said "hi" \\ then: left', 0.9, 10, 10, 300, 40)], 640, 480),
    ],
)
def test_the_json_is_valid_whatever_was_read(reading: Reading) -> None:
    for question in ("list the items", "extract the fields"):
        document = extract(reading, question)
        assert _valid(document) == document.data
        assert summary(document, BOOKS["en"])


def test_a_headerless_table_is_a_list_of_rows() -> None:
    lines = [
        _line("Tea", 0.99, 10, 10, 90, 40),
        _line("1.50", 0.99, 300, 10, 360, 40),
        _line("Cake", 0.99, 10, 60, 90, 90),
        _line("2.75", 0.99, 300, 60, 360, 90),
    ]
    document = table(layout(lines, 640, 480))
    assert _valid(document) == [["Tea", "1.50"], ["Cake", "2.75"]]
    assert summary(document, BOOKS["zh"]) == "2项：Tea, 1.50；Cake, 2.75。"
    assert fields(layout(lines, 640, 480)).data == {"Tea": "1.50", "Cake": "2.75"}


def test_a_long_table_is_summarised_by_its_first_rows_and_kept_whole() -> None:
    lines = [
        piece
        for i in range(10)
        for piece in (
            _line(f"Item {i}", 0.99, 10, 10 + 50 * i, 120, 40 + 50 * i),
            _line(f"{i}.00", 0.99, 300, 10 + 50 * i, 360, 40 + 50 * i),
        )
    ]
    document = table(layout(lines, 640, 720))
    assert len(_valid(document)) == 10
    assert summary(document, BOOKS["en"]).startswith("10 items: Item 0, 0.00; Item 1, 1.00;")
    assert summary(document, BOOKS["en"]).endswith("Item 7, 7.00; and 2 more.")
    assert summary(document, BOOKS["zh"]).endswith("；还有2项。")
    assert summary(Document("lines", []), BOOKS["en"]) == "Nothing could be read."
