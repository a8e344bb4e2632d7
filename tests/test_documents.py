"""Documents into JSON: real OCR on rendered tables and forms, then rows and columns by geometry."""

import json
import re
from pathlib import Path
from typing import Any

import cv2
import jsonschema_rs
import numpy as np
import pytest
from renders import lines_at, render

from assistant.core.documents import Document, extract, fields, summary, table
from assistant.core.phrases import BOOKS
from assistant.core.reading import Reading, TextLine, layout
from assistant.see.ocr import TextReader

PRICES = [["Product", "Price"], ["Apple", "$1.20"], ["Bread", "$2.50"], ["Milk", "$0.99"], ["Eggs", "$3.10"]]


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


def test_a_headerless_table_of_two_columns_has_its_fields_named_from_what_they_hold() -> None:
    lines = [
        _line("Tea", 0.99, 10, 10, 90, 40),
        _line("1.50", 0.99, 300, 10, 360, 40),
        _line("Cake", 0.99, 10, 60, 90, 90),
        _line("2.75", 0.99, 300, 60, 360, 90),
    ]
    document = table(layout(lines, 640, 480))
    assert _valid(document) == [{"item": "Tea", "price": "1.50"}, {"item": "Cake", "price": "2.75"}]
    assert summary(document, BOOKS["zh"]) == "2项：Tea, 1.50；Cake, 2.75。"
    assert fields(layout(lines, 640, 480)).data == {"Tea": "1.50", "Cake": "2.75"}


ENGLISH = "List the products and their prices."
CHINESE = "请列出表格中的三项产品名称及其价格。"
"""The question of the write-up the project was made from."""
CAFE = [("Coffee", "3.20"), ("Tea", "2.80"), ("Hot chocolate", "3.50")]
SHOP = [("笔记本电脑", "5999元"), ("智能手机", "3999元"), ("平板电脑", "2999元")]
"""The write-up's document, without its header row."""
PEOPLE = [("Ann", "Paris", "31"), ("Bob", "Rome", "42")]


def _width(text: str) -> float:
    """How wide the OCR's box around a text is, at 20 pixels a Latin letter and 40 a Chinese character."""
    return sum(40 if "\u3400" <= ch <= "\u9fff" else 20 for ch in text)


def _one_line_a_row(rows: list[tuple[str, str]], top: float = 10) -> list[TextLine]:
    """Each row read as one line, "Coffee 3.20", as the OCR reads a list whose columns are close."""
    lines = []
    for i, (item, value) in enumerate(rows):
        text = f"{item} {value}"
        lines.append(_line(text, 0.99, 10, top + 50 * i, 10 + _width(text), top + 30 + 50 * i))
    return lines


def _two_boxes_a_row(rows: list[tuple[str, str]], top: float = 10) -> list[TextLine]:
    """Each row read as two boxes, the item's and the value's, as the OCR reads a list whose columns are apart."""
    return [
        piece
        for i, (item, value) in enumerate(rows)
        for piece in (
            _line(item, 0.99, 10, top + 50 * i, 10 + _width(item), top + 30 + 50 * i),
            _line(value, 0.99, 400, top + 50 * i, 400 + _width(value), top + 30 + 50 * i),
        )
    ]


def _columns(rows: list[tuple[str, ...]], lefts: tuple[int, ...] = (10, 200, 300, 400)) -> list[TextLine]:
    """Rows of cells, each cell 80 pixels wide, its left edge at its column's."""
    return [
        _line(text, 0.99, left, 10 + 50 * i, left + 80, 40 + 50 * i)
        for i, row in enumerate(rows)
        for text, left in zip(row, lefts, strict=False)
    ]


@pytest.mark.parametrize("boxes", [_one_line_a_row, _two_boxes_a_row], ids=["one-line-a-row", "two-boxes-a-row"])
def test_a_headerless_price_list_becomes_objects_of_item_and_price(boxes: Any) -> None:
    document = extract(layout(boxes(CAFE), 640, 480), ENGLISH)
    assert document.kind == "table"
    assert _valid(document) == [
        {"item": "Coffee", "price": "3.20"},
        {"item": "Tea", "price": "2.80"},
        {"item": "Hot chocolate", "price": "3.50"},
    ]
    assert document.unreadable == []
    assert summary(document, BOOKS["en"]) == "3 items: Coffee, 3.20; Tea, 2.80; Hot chocolate, 3.50."


@pytest.mark.parametrize("boxes", [_one_line_a_row, _two_boxes_a_row], ids=["one-line-a-row", "two-boxes-a-row"])
def test_the_write_ups_price_list_has_fields_named_in_the_questions_language(boxes: Any) -> None:
    reading = layout(boxes(SHOP), 640, 480)
    chinese = extract(reading, CHINESE)
    assert _valid(chinese) == [
        {"名称": "笔记本电脑", "价格": "5999元"},
        {"名称": "智能手机", "价格": "3999元"},
        {"名称": "平板电脑", "价格": "2999元"},
    ]
    assert summary(chinese, BOOKS["zh"]) == "3项：笔记本电脑, 5999元；智能手机, 3999元；平板电脑, 2999元。"
    assert _valid(extract(reading, ENGLISH)) == [
        {"item": "笔记本电脑", "price": "5999元"},
        {"item": "智能手机", "price": "3999元"},
        {"item": "平板电脑", "price": "2999元"},
    ]


def test_a_row_read_without_a_space_before_its_price_is_split_after_the_chinese() -> None:
    reading = layout(_one_line_a_row([("笔记本电脑", "5999元"), ("智能手机", "¥3999")]), 640, 480)
    texts = [line.text for line in reading.lines]
    squeezed = [_line(text.replace(" ", ""), 0.99, *line.box) for text, line in zip(texts, reading.lines, strict=True)]
    assert _valid(extract(layout(squeezed, 640, 480), CHINESE)) == [
        {"名称": "笔记本电脑", "价格": "5999元"},
        {"名称": "智能手机", "价格": "¥3999"},
    ]


@pytest.mark.parametrize("question", [ENGLISH, CHINESE])
def test_a_header_row_still_names_the_fields(question: str) -> None:
    document = extract(layout(_two_boxes_a_row([("产品", "价格"), *SHOP]), 640, 480), question)
    assert _valid(document) == [
        {"产品": "笔记本电脑", "价格": "5999元"},
        {"产品": "智能手机", "价格": "3999元"},
        {"产品": "平板电脑", "价格": "2999元"},
    ]
    cafe = [
        {"Product": "Coffee", "Price": "3.20"},
        {"Product": "Tea", "Price": "2.80"},
        {"Product": "Hot chocolate", "Price": "3.50"},
    ]
    assert _valid(extract(layout(_two_boxes_a_row([("Product", "Price"), *CAFE]), 640, 480), question)) == cafe
    under = [*_two_boxes_a_row([("Product", "Price")]), *_one_line_a_row(CAFE, top=60)]
    assert _valid(extract(layout(under, 640, 480), question)) == cafe, "rows read as one line each, under a header"


@pytest.mark.parametrize(
    ("boxes", "price_at"), [(_one_line_a_row, 90), (_two_boxes_a_row, 400)], ids=["one-line-a-row", "two-boxes-a-row"]
)
def test_a_damaged_price_is_null_and_listed_as_unreadable(boxes: Any, price_at: float) -> None:
    """The OCR read "Tea" but was unsure of its price: the price is null, never the unsure reading."""
    lines = [line for line in boxes(CAFE) if line.text not in {"Tea 2.80", "2.80"}]
    if boxes is _one_line_a_row:
        lines.append(_line("Tea", 0.99, 10, 60, 70, 90))
    unsure = (_line("2.8O", 0.45, price_at, 60, price_at + 80, 90),)
    reading = Reading(layout(lines, 640, 480).blocks, 640, 480, unsure=unsure)
    document = extract(reading, ENGLISH)
    assert _valid(document) == [
        {"item": "Coffee", "price": "3.20"},
        {"item": "Tea", "price": None},
        {"item": "Hot chocolate", "price": "3.50"},
    ]
    assert document.unreadable == ["row 2, price"]
    assert "2.8" not in document.to_json(), "an unsure reading is never given as a value"
    assert summary(document, BOOKS["en"]) == "3 items: Coffee, 3.20; Tea, price unreadable; Hot chocolate, 3.50."
    chinese = extract(reading, CHINESE)
    assert _valid(chinese)[1] == {"名称": "Tea", "价格": None}  # type: ignore[index]
    assert chinese.unreadable == ["row 2, 价格"]
    assert "Tea, 价格看不清" in summary(chinese, BOOKS["zh"])


def test_a_price_seen_nowhere_is_null_too() -> None:
    lines = [*_one_line_a_row(CAFE[:1]), _line("Tea", 0.99, 10, 60, 70, 90), *_one_line_a_row(CAFE[2:], top=110)]
    document = extract(layout(lines, 640, 480), ENGLISH)
    assert _valid(document) == [
        {"item": "Coffee", "price": "3.20"},
        {"item": "Tea", "price": None},
        {"item": "Hot chocolate", "price": "3.50"},
    ]
    assert document.unreadable == ["row 2, price"]


def test_whole_numbers_are_quantities_and_a_second_amount_of_money_is_the_amount() -> None:
    counts = [("Eggs", "12"), ("Milk", "2"), ("Flour", "500g")]
    assert _valid(extract(layout(_one_line_a_row(counts), 640, 480), ENGLISH)) == [
        {"item": "Eggs", "quantity": "12"},
        {"item": "Milk", "quantity": "2"},
        {"item": "Flour", "quantity": "500g"},
    ]
    lines = _columns([("Coffee", "x2", "$3.20", "$6.40"), ("Tea", "x1", "$2.80", "$2.80")])
    assert _valid(extract(layout(lines, 640, 480), ENGLISH)) == [
        {"item": "Coffee", "quantity": "x2", "price": "$3.20", "amount": "$6.40"},
        {"item": "Tea", "quantity": "x1", "price": "$2.80", "amount": "$2.80"},
    ]
    assert _valid(extract(layout(lines, 640, 480), CHINESE))[0] == {  # type: ignore[index]
        "名称": "Coffee",
        "数量": "x2",
        "价格": "$3.20",
        "金额": "$6.40",
    }


@pytest.mark.parametrize(
    ("values", "key"),
    [
        (("3.20", "12"), "price"),
        (("€3,20", "3,50 €"), "price"),
        (("RMB 5999", "RMB 12"), "price"),
        (("12块", "8元"), "price"),
        (("¥3999", "￥2999"), "price"),
        (("£1", "£2"), "price"),
        (("12", "3"), "quantity"),
        (("x3", "2 kg"), "quantity"),
        (("2个", "10瓶"), "quantity"),
        (("1,000", "2.5"), "quantity"),
    ],
)
def test_money_is_a_price_and_other_numbers_a_quantity(values: tuple[str, str], key: str) -> None:
    """Money has a currency sign or word, or two decimal places; a number without either is a count."""
    rows = list(zip(("Soap", "Rice"), values, strict=True))
    for boxes in (_two_boxes_a_row(rows), _one_line_a_row(rows)):
        expected = [{"item": item, key: value} for item, value in rows]
        assert _valid(extract(layout(boxes, 640, 480), ENGLISH)) == expected


def test_label_value_lines_stay_one_object_and_a_table_nothing_can_name_stays_lists() -> None:
    form = [
        _line(text, 0.99, 10, 10 + 50 * i, 300, 40 + 50 * i) for i, text in enumerate(["Name: Jane", "Total: $12.00"])
    ]
    document = extract(layout(form, 640, 480), ENGLISH)
    assert (document.kind, _valid(document)) == ("fields", {"Name": "Jane", "Total": "$12.00"})
    document = extract(layout(_columns(PEOPLE), 640, 480), ENGLISH)
    assert _valid(document) == [list(row) for row in PEOPLE], "two text columns: the second cannot be named"


def test_a_title_above_a_list_read_one_line_a_row_is_not_a_row() -> None:
    lines = [_line("CAFE MENU", 0.99, 10, 10, 200, 40), *_one_line_a_row(CAFE, top=60)]
    assert _valid(extract(layout(lines, 640, 480), ENGLISH)) == [
        {"item": "Coffee", "price": "3.20"},
        {"item": "Tea", "price": "2.80"},
        {"item": "Hot chocolate", "price": "3.50"},
    ]


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


def _readme_schema() -> dict[str, Any]:
    """The JSON Schema of a document, as README.md's reading section gives it."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```json\n(.*?)\n```", readme, re.S) if '"title": "document"' in b]
    schema: dict[str, Any] = json.loads(block)
    return schema


def test_every_kind_of_document_fits_the_readmes_schema() -> None:
    schema = _readme_schema()
    alternatives = {part["title"]: part for part in schema["anyOf"]}

    def fits(title: str, data: object) -> bool:
        return bool(jsonschema_rs.validator_for({**alternatives[title], "$defs": schema["$defs"]}).is_valid(data))

    named = extract(layout(_one_line_a_row(SHOP), 640, 480), CHINESE)
    damaged = [line for line in _two_boxes_a_row(CAFE) if line.text != "2.80"]
    with_null = extract(layout(damaged, 640, 480), ENGLISH)
    unnamed = extract(layout(_columns(PEOPLE), 640, 480), ENGLISH)
    form = extract(layout(_columns([("Name: Jane",), ("Phone:",)]), 640, 480), ENGLISH)
    lines = extract(layout([_line("just a line", 0.9, 10, 10, 200, 40)], 640, 480), ENGLISH)
    for title, document in [
        ("table with named fields", named),
        ("table with named fields", with_null),
        ("table whose fields could not be named", unnamed),
        ("form", form),
        ("lines", lines),
    ]:
        data = _valid(document)
        assert fits(title, data), (title, data)
        assert jsonschema_rs.validator_for(schema).is_valid(data)
        assert jsonschema_rs.validator_for({**schema["$defs"]["unreadable"]}).is_valid(document.unreadable)
    assert with_null.unreadable == ["row 2, price"] and form.unreadable == ["Phone"]
    assert not jsonschema_rs.validator_for(schema).is_valid([{"item": 3.2}]), "every value is text or null"
