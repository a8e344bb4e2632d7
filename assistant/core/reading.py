"""What was read in a picture: text lines with their boxes and confidence, laid out in reading order.

Lines side by side form a row, read left to right; rows close together form a block; blocks are read top to
bottom. Lines of low confidence and lone specks are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLEAR_SCORE = 0.9
"""Text read with this mean confidence or more reads well."""
MIN_SCORE = 0.6
"""Lines the engine is less sure of than this are dropped."""
UNSURE_SCORE = 0.3
"""Lines between this and the minimum are kept apart as unsure: a document marks their cells unreadable."""
SPECK_SCORE = 0.95
"""A line of one character is kept only this sure, and only if its box is text-sized: photos give false '0's."""
SPECK_MAX_AREA = 0.2
"""A one-character line covering more than this share of the picture is a misread shape, not a letter."""
ROW_OVERLAP = 0.5
"""Two lines are in one row when their centres are closer than this many line heights, vertically."""
BLOCK_GAP = 1.2
"""Rows further apart than this many line heights start a new block."""


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float
    quad: tuple[tuple[float, float], ...]
    """Corners as the engine gives them: top-left, top-right, bottom-right, bottom-left, in full-frame pixels."""

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom), the upright rectangle around the quad."""
        xs = [p[0] for p in self.quad]
        ys = [p[1] for p in self.quad]
        return round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))

    @property
    def centre_y(self) -> float:
        return sum(p[1] for p in self.quad) / len(self.quad)

    @property
    def height(self) -> float:
        """The line's own height, measured along its left and right edges, so a tilted line is not taller."""
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = self.quad
        return max(1.0, (float(np.hypot(x3 - x0, y3 - y0)) + float(np.hypot(x2 - x1, y2 - y1))) / 2)


@dataclass(frozen=True)
class TextBlock:
    rows: tuple[tuple[TextLine, ...], ...]
    """Each row's lines, left to right."""

    @property
    def lines(self) -> list[TextLine]:
        return [line for row in self.rows for line in row]

    @property
    def text(self) -> str:
        return "\n".join(" ".join(line.text for line in row) for row in self.rows)


@dataclass(frozen=True)
class Reading:
    """All the text found in one picture, in reading order."""

    blocks: tuple[TextBlock, ...]
    width: int
    height: int
    elapsed_ms: float = 0.0
    unsure: tuple[TextLine, ...] = ()
    """Text the engine saw but was not sure of: not read out, but a document's cell there is unreadable."""

    @property
    def lines(self) -> list[TextLine]:
        return [line for block in self.blocks for line in block.lines]

    @property
    def rows(self) -> list[tuple[TextLine, ...]]:
        return [row for block in self.blocks for row in block.rows]

    @property
    def text(self) -> str:
        """Rows on lines of their own, blocks parted by an empty line."""
        return "\n\n".join(block.text for block in self.blocks)

    @property
    def reads_well(self) -> bool:
        """Text was read, and read with confidence: then the picture is neither washed out nor blurred for it."""
        lines = self.lines
        return bool(lines) and sum(line.score for line in lines) / len(lines) >= CLEAR_SCORE

    def __bool__(self) -> bool:
        return bool(self.blocks)


def keep(line: TextLine, width: int, height: int, min_score: float = MIN_SCORE) -> bool:
    """Whether a line is real text rather than a low-confidence guess or a speck read in a photo."""
    text = line.text.strip()
    if not text or line.score < min_score:
        return False
    if sum(ch.isalnum() for ch in text) <= 1:
        left, top, right, bottom = line.box
        area = (right - left) * (bottom - top) / max(1, width * height)
        return line.score >= SPECK_SCORE and area <= SPECK_MAX_AREA
    return True


def layout(lines: list[TextLine], width: int, height: int) -> Reading:
    """Rows by vertical position, left to right within a row; blocks where the gap between rows is wide."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda line: line.centre_y):
        if rows:
            row = rows[-1]
            row_y = sum(other.centre_y for other in row) / len(row)
            row_height = max(other.height for other in row)
            if abs(line.centre_y - row_y) < ROW_OVERLAP * max(line.height, row_height):
                row.append(line)
                continue
        rows.append([line])
    blocks: list[list[tuple[TextLine, ...]]] = []
    previous: list[TextLine] | None = None
    for row in rows:
        row.sort(key=lambda line: line.box[0])
        if previous is None or _gap(previous, row) > BLOCK_GAP * max(line.height for line in previous + row):
            blocks.append([])
        blocks[-1].append(tuple(row))
        previous = row
    return Reading(tuple(TextBlock(tuple(block)) for block in blocks), width, height)


def _gap(upper: list[TextLine], lower: list[TextLine]) -> float:
    return min(line.box[1] for line in lower) - max(line.box[3] for line in upper)


def edges_touched(reading: Reading, margin: float = 0.01) -> list[str]:
    """The picture's edges ('left', 'right', 'top', 'bottom') that text runs into: it may be cut off there."""
    touched: list[str] = []
    x_margin, y_margin = max(2, margin * reading.width), max(2, margin * reading.height)
    for line in reading.lines:
        left, top, right, bottom = line.box
        for edge, near in (
            ("left", left <= x_margin),
            ("right", right >= reading.width - 1 - x_margin),
            ("top", top <= y_margin),
            ("bottom", bottom >= reading.height - 1 - y_margin),
        ):
            if near and edge not in touched:
                touched.append(edge)
    return touched
