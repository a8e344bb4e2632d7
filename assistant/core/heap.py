"""Handing memory that was freed back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None  # glibc's; not on macOS or musl


def give_back_freed_memory() -> None:
    """Return the free pages of the C heap to the system. glibc keeps what a burst of small allocations freed for
    the next one, and so it stays resident beside the vision model's memory; this gives it back (a few ms)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
