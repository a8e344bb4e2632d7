"""A document read into JSON from the OCR layout alone: a table's rows and columns by geometry, or a form's fields.

Every value is text the OCR read. A cell where it read something it was unsure of, or nothing, is null, and the
spoken summary says so: nothing is guessed.

A table's fields are named by its header row when it has one. Without one they are named from what the columns
hold, in the question's language: a column of money (a currency sign or word, or two decimal places: "$3.20",
"5999元", "3.20") is `price` (价格), a second one `amount` (金额); a column of other numbers, bare or with a unit
("2", "x3", "500g", "2个"), is `quantity` (数量); the column of text is `item` (名称). A table whose columns cannot all
be named so (two text columns, an empty column) stays a list of rows of cells. A row the OCR read as one line,
"Coffee 3.20", is split before its trailing amount into its item and its value.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from assistant.core.phrases.book import Phrases
from assistant.core.reading import Reading, TextLine
from assistant.core.routing import is_chinese

MAX_SPOKEN_ITEMS = 8
"""The summary reads out this many rows; the JSON holds them all."""
_FIELDS = re.compile(r"\b(fields?|form)\b")
_FIELDS_ZH = ("字段", "表单", "填写")
_COLON = re.compile(r"\s*[:：]\s*")

_SIGNS = "$€£¥￥₩₹"
_CODES = ("RMB", "CNY", "USD", "EUR", "GBP", "JPY", "HKD")
"""Currency codes, written before the number ("RMB 5999") or after it."""
_MONEY_WORDS = ("块钱", "元", "块", "圆", "yuan", *_CODES)
_UNITS = (
    "pcs", "pc", "kg", "mg", "ml", "lbs", "lb", "oz", "g", "l", "x", "×",
    "公斤", "千克", "克", "斤", "个", "件", "瓶", "盒", "包", "只", "支", "袋", "箱", "份", "杯", "张", "本", "台",
)  # fmt: skip
_WORDS = "|".join(re.escape(word) for word in (*_MONEY_WORDS, *_UNITS))
_SIGN = f"[{re.escape(_SIGNS)}]"
_BEFORE = rf"(?:{_SIGN}|{'|'.join(_CODES)}|[x×])\s?"
_AFTER = rf"\s?(?:{_SIGN}|(?i:{_WORDS}))"
_AMOUNT = rf"(?:{_BEFORE})?-?\d+(?:[.,]\d+)*(?:{_AFTER})?"
"""A number as a cell holds one: an amount of money or a count, with its sign, currency word or unit if any."""
_NUMBER_CELL = re.compile(_AMOUNT)
_MONEY = re.compile(rf"{_SIGN}|{'|'.join(re.escape(word) for word in _MONEY_WORDS)}|\d[.,]\d\d$", re.I)
_TRAILING = re.compile(rf"(?P<item>.*?\S)(?:\s+|(?<=[\u3400-\u9fff]))(?P<value>{_AMOUNT})")
"""A line that ends in an amount after a space (or straight after a Chinese character): its item, then its value."""

FIELD_NAMES = {
    "en": {"item": "item", "price": "price", "amount": "amount", "quantity": "quantity"},
    "zh": {"item": "名称", "price": "价格", "amount": "金额", "quantity": "数量"},
}
"""The names a table's columns get without a header row, in the question's language."""


@dataclass(frozen=True)
class Document:
    kind: str
    """'table' (a list of rows), 'fields' (an object) or 'lines' (a list of strings)."""
    data: Any
    unreadable: list[str] = field(default_factory=list)
    """Where a value could not be read, in words ("row 3, Price")."""

    def to_json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False)


Span = tuple[float, float]


@dataclass(frozen=True)
class _Split:
    """One line read as a whole row, cut before its trailing amount, each part's extent estimated from its text."""

    line: TextLine
    item: str
    value: str
    item_span: Span
    value_span: Span


def _span(line: TextLine) -> Span:
    left, _, right, _ = line.box
    return float(left), float(right)


def _columns(spans: list[Span]) -> list[Span]:
    """Column spans: the horizontal extents of cells merged where they overlap, across the table's rows."""
    columns: list[list[float]] = []
    for left, right in sorted(spans):
        if columns and left < columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], right)
        else:
            columns.append([left, right])
    return [(left, right) for left, right in columns]


def _column_of(span: Span, columns: list[Span]) -> int:
    left, right = span
    overlaps = [min(right, c_right) - max(left, c_left) for c_left, c_right in columns]
    return max(range(len(columns)), key=lambda i: overlaps[i])


def _width(text: str) -> int:
    """How wide a text is printed, in half-width characters: a Chinese character is two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _split(row: tuple[TextLine, ...]) -> _Split | None:
    """A row read as one line such as "Coffee 3.20" or "笔记本电脑 5999元", cut into its item and its amount; not a
    "Label: value" line, and not a line whose part before the number has no letter."""
    if len(row) != 1:
        return None
    line = row[0]
    text = line.text.strip()
    match = _TRAILING.fullmatch(text)
    if match is None or _COLON.search(text) or not any(ch.isalpha() for ch in match["item"]):
        return None
    item, value = match["item"], match["value"]
    left, right = _span(line)
    width = (right - left) / max(1, _width(text))
    return _Split(line, item, value, (left, left + width * _width(item)), (right - width * _width(value), right))


def table(reading: Reading, chinese: bool = False) -> Document:
    """The rows from the first to the last with two or more cells make the table, and those rows' cells its
    columns; a first row without digits is its header. A row read as one line ending in an amount counts as two
    cells, its item and its value. Where the OCR saw text but was unsure of it, or saw nothing, the cell is null.
    Without a header the columns are named from what they hold (see the module's docstring), in Chinese when
    `chinese`."""
    all_rows = reading.rows
    splits = [_split(row) for row in all_rows]
    unsure = [_within(reading.unsure, list(row)) for row in all_rows]
    full = [i for i, row in enumerate(all_rows) if (2 if splits[i] else len(row)) + len(unsure[i]) >= 2]
    if len(full) < 2:
        return fields(reading)
    region = range(full[0], full[-1] + 1)
    measured = [_span(line) for i in full if not splits[i] for line in [*all_rows[i], *unsure[i]]]
    measured += [_span(line) for i in full if splits[i] for line in unsure[i]]
    columns = _columns(measured)
    found = [split for split in splits[full[0] : full[-1] + 1] if split]
    by_part = len(columns) < 2 and bool(found)
    if by_part:
        # The rows were read as one line each: their items make the first column, their amounts the second.
        columns = [
            (min(s.item_span[0] for s in found), max(s.item_span[1] for s in found)),
            (min(s.value_span[0] for s in found), max(s.value_span[1] for s in found)),
        ]
    grid: list[list[str | None]] = []
    for index in region:
        cells: list[list[str]] = [[] for _ in columns]
        split = splits[index]
        placed = _place(split, columns, by_part) if split else None
        if split and placed:
            cells[placed[0]].append(split.item)
            cells[placed[1]].append(split.value)
        else:
            for line in all_rows[index]:
                cells[_column_of(_span(line), columns)].append(line.text.strip())
        grid.append([" ".join(cell) if cell else None for cell in cells])
    header: list[str] | None = None
    first = region.start
    if not any(re.search(r"\d", cell or "") for cell in grid[0]) and all(grid[0]):
        header = _keys([str(cell) for cell in grid[0]])
        grid = grid[1:]
        first += 1
    for row_index, index in enumerate(range(first, region.stop)):
        for line in unsure[index]:
            grid[row_index][_column_of(_span(line), columns)] = None
    names = header or _names(grid, FIELD_NAMES["zh" if chinese else "en"])
    unreadable = [
        f"row {r + 1}, {names[c] if names else f'column {c + 1}'}"
        for r, cells in enumerate(grid)
        for c, cell in enumerate(cells)
        if cell is None
    ]
    data: list[Any] = [dict(zip(names, cells, strict=True)) for cells in grid] if names else grid
    return Document("table", data, unreadable)


def _place(split: _Split, columns: list[Span], by_part: bool) -> tuple[int, int] | None:
    """The columns a split line's item and value go in: the item's is where the line starts (its one edge known for
    sure), the value's the one its estimated extent is nearest, at least one to the right; None when there is no
    column right of the item's."""
    if by_part:
        return 0, 1
    start = split.item_span[0]
    item = _column_of((start, start), columns)
    value = max(item + 1, _column_of(split.value_span, columns))
    return (item, value) if value < len(columns) else None


def _names(grid: list[list[str | None]], words: dict[str, str]) -> list[str] | None:
    """The fields named from what each column holds; None unless every column gets a name of its own."""
    names: list[str] = []
    for column in zip(*grid, strict=True):
        read = [cell for cell in column if cell is not None]
        if not read:
            return None
        if all(_NUMBER_CELL.fullmatch(cell) for cell in read):
            money = any(_MONEY.search(cell) for cell in read)
            kind = ("amount" if words["price"] in names else "price") if money else "quantity"
        else:
            kind = "item"
        if words[kind] in names:
            return None
        names.append(words[kind])
    return names


def _within(lines: tuple[TextLine, ...], row: list[TextLine]) -> list[TextLine]:
    """The lines whose centre is level with the row."""
    top, bottom = min(line.box[1] for line in row), max(line.box[3] for line in row)
    return [line for line in lines if top <= line.centre_y <= bottom]


def _keys(names: list[str]) -> list[str]:
    keys: list[str] = []
    for index, name in enumerate(names):
        key = name.strip().rstrip(":：").strip() or f"column {index + 1}"
        keys.append(key if key not in keys else f"{key} {index + 1}")
    return keys


def fields(reading: Reading) -> Document:
    """'Name: value' lines, or rows of two cells, as an object; plain lines when there are none."""
    data: dict[str, str | None] = {}
    for row in reading.rows:
        texts = [line.text.strip() for line in row]
        joined = " ".join(texts)
        if _COLON.search(joined):
            key, value = _COLON.split(joined, maxsplit=1)
        elif len(texts) == 2:
            key, value = texts
        else:
            continue
        if key:
            data[_keys([*data, key])[-1]] = value or None
    if not data:
        return Document("lines", [" ".join(line.text for line in row) for row in reading.rows])
    unreadable = [key for key, value in data.items() if value is None]
    return Document("fields", data, unreadable)


def extract(reading: Reading, question: str) -> Document:
    """The document the question asks for: its fields, or else its table, with fields named in its language."""
    if _FIELDS.search(question.lower()) or any(word in question for word in _FIELDS_ZH):
        return fields(reading)
    return table(reading, chinese=is_chinese(question))


def summary(document: Document, say: Phrases) -> str:
    """A short spoken account: how many items, the first few, and what could not be read."""
    data = document.data
    if document.kind == "lines":
        parts = list(data)
    elif document.kind == "fields":
        parts = [say.field(key, _value(value, say)) for key, value in data.items()]
    else:
        rows = [row.items() if isinstance(row, dict) else [(None, cell) for cell in row] for row in data]
        parts = [", ".join(_value(cell, say, key) for key, cell in row) for row in rows]
    if not parts:
        return say.nothing_read
    return say.document(document.kind, len(parts), parts[:MAX_SPOKEN_ITEMS], len(parts) - MAX_SPOKEN_ITEMS)


def _value(cell: str | None, say: Phrases, key: str | None = None) -> str:
    """The cell as read, or that it could not be read."""
    return cell if cell is not None else say.unreadable_cell(key)
