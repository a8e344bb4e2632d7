"""Stage timings, as the turn log records them."""

from __future__ import annotations

import time


def ms_since(start: float) -> float:
    """Milliseconds since a time.monotonic() reading, to 0.1 ms."""
    return round((time.monotonic() - start) * 1000, 1)
