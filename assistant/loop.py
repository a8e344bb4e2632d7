"""The push-to-talk loop: idle → listening → thinking → speaking → idle, driven by keys."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from assistant.assistant import Assistant, ms_since
from assistant.errors import AssistantError
from assistant.interfaces import AudioSource, FrameSource
from assistant.types import Frame

_LOGGER = logging.getLogger(__name__)

TALK_KEYS = {" ", "\r", "\n"}
QUIT_KEYS = {"q", "Q", "\x03", "\x04", ""}
"""q, Ctrl-C, Ctrl-D, and end of input."""

READY = "Ready. Press Space or Enter to ask, and press it again when you have finished. Press q to quit."


class KeySource(Protocol):
    def read(self) -> str:
        """The next key pressed; "" at end of input."""


class ScriptedKeys:
    """Keys given in advance: how files drive the loop."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys: Iterator[str] = iter(keys)

    def read(self) -> str:
        return next(self._keys, "")


class TerminalKeys:
    """Single key presses from a terminal; from a pipe, each line counts as Enter ("q" quits)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdin

    def read(self) -> str:
        if self.stream.isatty():
            fd = self.stream.fileno()
            with _raw_terminal(fd):
                return os.read(fd, 1).decode("utf-8", errors="ignore")
        line = self.stream.readline()
        if not line:
            return ""
        return "q" if line.strip().lower() in {"q", "quit"} else "\n"


@contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class PushToTalkLoop:
    def __init__(
        self,
        assistant: Assistant,
        audio: AudioSource,
        camera: FrameSource | None,
        keys: KeySource,
        say: Callable[[str], None],
        camera_problem: AssistantError | None = None,
    ) -> None:
        self.assistant = assistant
        self.audio = audio
        self.camera = camera
        self.keys = keys
        self.say = say
        """Prints a line for the screen reader."""
        self.camera_problem = camera_problem

    def run(self) -> int:
        """Serve turns until quit; return how many were answered without error."""
        self.say(READY)
        answered = 0
        while True:
            key = self.keys.read()
            if key in QUIT_KEYS:
                break
            if key not in TALK_KEYS:
                continue
            turn_ok = self._one_turn()
            if turn_ok is None:
                break
            answered += turn_ok
        self.say("Goodbye.")
        return answered

    def _one_turn(self) -> bool | None:
        """Listen, then answer. None means the user quit while listening."""
        try:
            self.audio.start()
        except AssistantError as e:
            self.say(e.spoken())
            self.assistant.speak(e.spoken())
            return False
        self.say("Listening.")
        pressed = time.monotonic()
        key = self.keys.read()
        while key not in TALK_KEYS | QUIT_KEYS:
            key = self.keys.read()
        released = time.monotonic()
        frame, camera_problem = self._grab()
        frame_ms = ms_since(released)
        try:
            clip = self.audio.stop()
        except AssistantError as e:
            self.say(e.spoken())
            self.assistant.speak(e.spoken())
            return None if key in QUIT_KEYS else False
        if key in QUIT_KEYS:
            return None
        self.say("Thinking.")
        timings = {"record": ms_since(pressed), "frame": frame_ms}
        turn = self.assistant.answer_recording(clip, frame, camera_problem, timings, released_at=released)
        return turn.error is None

    def _grab(self) -> tuple[Frame | None, AssistantError | None]:
        """The picture at release time, never later."""
        if self.camera is None:
            return None, self.camera_problem
        try:
            return self.camera.grab(), None
        except AssistantError as e:
            _LOGGER.warning("camera: %s", e.message)
            return None, e
