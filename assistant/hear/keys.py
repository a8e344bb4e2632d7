"""Keys that drive push-to-talk: a terminal's single key presses, or keys scripted in advance."""

from __future__ import annotations

import os
import select
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol, TextIO

TALK_KEYS = {" ", "\r", "\n"}
STOP_KEYS = {"\x1b"}
"""Escape."""
LIVE_KEYS = {"r", "R"}
"""Reads text live until the next key."""
QUIT_KEYS = {"q", "Q", "\x03", "\x04", ""}
"""q, Ctrl-C, Ctrl-D, and end of input."""


class KeySource(Protocol):
    def read(self) -> str:
        """The next key pressed, waiting for it; "" at end of input."""

    def poll(self, timeout: float) -> str | None:
        """A key pressed within `timeout` seconds, or None."""

    def session(self) -> AbstractContextManager[object]:
        """Held while the loop runs (a terminal stays in single-key mode)."""


class ScriptedKeys:
    """Keys given in advance: how files drive the loop.

    A plain key is read when the loop is idle. A (seconds, key) pair is pressed that long after the key
    before it, even while an answer is playing: that is how a test interrupts."""

    def __init__(self, keys: Iterable[str | tuple[float, str]]) -> None:
        self._keys: Iterator[str | tuple[float, str]] = iter(keys)
        self._next: str | tuple[float, str] | None = next(self._keys, None)
        self._since = time.monotonic()

    def _take(self) -> str:
        key = self._next
        self._next = next(self._keys, None)
        self._since = time.monotonic()
        return key[1] if isinstance(key, tuple) else (key or "")

    def read(self) -> str:
        if isinstance(self._next, tuple):
            time.sleep(max(0.0, self._since + self._next[0] - time.monotonic()))
        return self._take()

    def poll(self, timeout: float) -> str | None:
        if not isinstance(self._next, tuple):
            time.sleep(timeout)
            return None
        wait = self._since + self._next[0] - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return None
        time.sleep(max(0.0, wait))
        return self._take()

    def session(self) -> AbstractContextManager[object]:
        return nullcontext()


class TerminalKeys:
    """Single key presses from a terminal; from a pipe, each line counts as Enter ("q" quits)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdin

    def session(self) -> AbstractContextManager[object]:
        return _single_keys(self.stream.fileno()) if self.stream.isatty() else nullcontext()

    def read(self) -> str:
        if self.stream.isatty():
            return os.read(self.stream.fileno(), 1).decode("utf-8", errors="ignore")
        line = self.stream.readline()
        if not line:
            return ""
        return "q" if line.strip().lower() in {"q", "quit"} else "\n"

    def poll(self, timeout: float) -> str | None:
        try:
            ready, _, _ = select.select([self.stream], [], [], timeout)
        except (OSError, ValueError, TypeError):  # a stream with no file descriptor
            time.sleep(timeout)
            return None
        return self.read() if ready else None


@contextmanager
def _single_keys(fd: int) -> Iterator[object]:
    """cbreak mode: each key arrives as it is pressed, and Ctrl-C still interrupts."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
