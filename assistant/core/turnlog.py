"""The opt-in turn log: one JSON object per line, per turn."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from assistant.core.types import Turn
from assistant.errors import BadInputError

_LOGGER = logging.getLogger(__name__)


class TurnLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.failing = False
        """Whether the last line could not be written (a full disk, a file gone read-only): the assistant goes on,
        and says so once on stderr until a line is written again."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError as e:
            raise BadInputError(f"I can't write the turn log {path}: {e.strerror}.") from e

    def write(self, turn: Turn) -> None:
        self.write_record(dataclasses.asdict(turn))

    def write_record(self, fields: dict[str, Any]) -> None:
        """One line of any kind (a turn, a reading of live text); a line that cannot be written whole is taken
        back, so that the lines before it stay valid."""
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        size = self._size()
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line)
        except OSError as e:
            self._take_back(size)
            if not self.failing:
                _LOGGER.error("the turn log %s cannot be written (%s): turns go unlogged", self.path, e.strerror)
            self.failing = True
            return
        if self.failing:
            _LOGGER.warning("the turn log %s is written again", self.path)
        self.failing = False

    def _size(self) -> int | None:
        try:
            return self.path.stat().st_size if self.path.is_file() else None
        except OSError:
            return None

    def _take_back(self, size: int | None) -> None:
        if size is None:
            return
        try:
            if self.path.stat().st_size > size:
                os.truncate(self.path, size)
        except OSError:
            pass  # it could not be written; what was there before stays
