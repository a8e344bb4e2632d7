"""A document read into JSON from the OCR layout alone: a table's rows and columns by geometry, or a form's fields.

Every value is text the OCR read. A cell where it read something it was unsure of, or nothing, is null, and the
spoken summary says so: nothing is guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from assistant.core.phrases.book import Phrases
from assistant.core.reading import Reading, TextLine

MAX_SPOKEN_ITEMS = 8
"""The summary reads out this many rows; the JSON holds them all."""
_FIELDS = re.compile(r"\b(fields?|form)\b")
_FIELDS_ZH = ("字段", "表单", "填写")
_COLON = re.compile(r"\s*[:：]\s*")


@dataclass(frozen=True)
class Document:
    kind: str
    """'table' (a list of rows), 'fields' (an object) or 'lines' (a list of strings)."""
    data: Any
    unreadable: list[str] = field(default_factory=list)
    """Where a value could not be read, in words ("row 3, Price")."""

    def to_json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False)


@dataclass
class _Cell:
    left: float
    right: float
    lines: list[TextLine]


def _span(line: TextLine) -> tuple[float, float]:
    left, _, right, _ = line.box
    return float(left), float(right)


def _columns(rows: list[list[TextLine]]) -> list[tuple[float, float]]:
    """Column spans: the horizontal extents of cells merged where they overlap, across the table's rows."""
    spans = sorted(_span(line) for row in rows for line in row)
    columns: list[list[float]] = []
    for left, right in spans:
        if columns and left < columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], right)
        else:
            columns.append([left, right])
    return [(left, right) for left, right in columns]


def _column_of(line: TextLine, columns: list[tuple[float, float]]) -> int:
    left, right = _span(line)
    overlaps = [min(right, c_right) - max(left, c_left) for c_left, c_right in columns]
    return max(range(len(columns)), key=lambda i: overlaps[i])


def table(reading: Reading) -> Document:
    """The rows from the first to the last with two or more cells make the table, and those rows' cells its
    columns; a first row without digits is its header. Where the OCR saw text but was unsure of it, or saw
    nothing, the cell is null."""
    all_rows = [list(row) for row in reading.rows]
    full = [index for index, row in enumerate(all_rows) if len(row) + len(_within(reading.unsure, row)) >= 2]
    if len(full) < 2:
        return fields(reading)
    columns = _columns([all_rows[index] for index in full])
    rows = all_rows[full[0] : full[-1] + 1]
    grid: list[list[str | None]] = []
    for row in rows:
        cells: list[list[str]] = [[] for _ in columns]
        for line in row:
            cells[_column_of(line, columns)].append(line.text.strip())
        grid.append([" ".join(cell) if cell else None for cell in cells])
    header: list[str] | None = None
    if not any(re.search(r"\d", cell or "") for cell in grid[0]) and all(grid[0]):
        header = _keys([str(cell) for cell in grid[0]])
        grid = grid[1:]
        rows = rows[1:]
    for index, row in enumerate(rows):
        for line in _within(reading.unsure, row):
            grid[index][_column_of(line, columns)] = None
    unreadable = [
        f"row {r + 1}, {header[c] if header else f'column {c + 1}'}"
        for r, cells in enumerate(grid)
        for c, cell in enumerate(cells)
        if cell is None
    ]
    data: list[Any] = [dict(zip(header, cells, strict=True)) for cells in grid] if header else grid
    return Document("table", data, unreadable)


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
    """The document the question asks for: its fields, or else its table."""
    if _FIELDS.search(question.lower()) or any(word in question for word in _FIELDS_ZH):
        return fields(reading)
    return table(reading)


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
