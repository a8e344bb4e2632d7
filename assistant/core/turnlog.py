"""The opt-in turn log: one JSON object per line, per turn."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from assistant.core.types import Turn
from assistant.errors import BadInputError


class TurnLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError as e:
            raise BadInputError(f"I can't write the turn log {path}: {e.strerror}.") from e

    def write(self, turn: Turn) -> None:
        self.write_record(dataclasses.asdict(turn))

    def write_record(self, fields: dict[str, Any]) -> None:
        """One line of any other kind: a reading of live text."""
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **fields}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
