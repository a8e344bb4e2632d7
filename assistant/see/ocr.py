"""Reading text with RapidOCR's bundled PP-OCR models, on the full-resolution frame.

The engine gives text lines with a quadrilateral and a confidence each. Here they are filtered (low confidence,
lone specks), then laid out: lines side by side form a row, read left to right; rows close together form a block;
blocks are read top to bottom.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from assistant.core.clock import ms_since
from assistant.core.reading import MIN_SCORE, UNSURE_SCORE, Reading, TextLine, keep, layout
from assistant.errors import ModelError

_LOGGER = logging.getLogger(__name__)


class TextReader:
    """RapidOCR, built on first use (it takes a second or two) and reused; safe to call from any thread."""

    def __init__(self, min_score: float = MIN_SCORE) -> None:
        self.min_score = min_score
        self._engine: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._engine is None:
                try:
                    import rapidocr
                except ImportError as e:
                    raise ModelError("I can't read text: the OCR engine is not installed.", "Run ./setup.sh.") from e
                # Its own handler prints every INFO line in colour; hand its warnings to our logging instead.
                engine_log = logging.getLogger("RapidOCR")
                for handler in list(engine_log.handlers):
                    engine_log.removeHandler(handler)
                engine_log.propagate = True
                started = time.monotonic()
                # Only thresholds and the log level are set: any model choice would make it download one.
                self._engine = rapidocr.RapidOCR(
                    params={"Global.log_level": "error", "Global.text_score": min(UNSURE_SCORE, self.min_score)}
                )
                _LOGGER.info("OCR engine ready in %.0f ms", ms_since(started))
        return self._engine

    def read(self, image: np.ndarray) -> Reading:
        """The text in a BGR picture, in reading order; an empty Reading when there is none."""
        engine = self._load()
        started = time.monotonic()
        height, width = image.shape[:2]
        result = engine(np.ascontiguousarray(image))
        lines: list[TextLine] = []
        unsure: list[TextLine] = []
        if getattr(result, "txts", None) and result.boxes is not None:
            for text, score, quad in zip(result.txts, result.scores, result.boxes, strict=True):
                line = TextLine(str(text), float(score), tuple((float(x), float(y)) for x, y in quad))
                if keep(line, width, height, self.min_score):
                    lines.append(line)
                elif keep(line, width, height, UNSURE_SCORE):
                    unsure.append(line)
        reading = Reading(layout(lines, width, height).blocks, width, height, ms_since(started), tuple(unsure))
        _LOGGER.debug("OCR: %d lines in %.0f ms", len(lines), reading.elapsed_ms)
        return reading
