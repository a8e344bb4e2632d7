"""The push-to-talk loop: idle → listening → thinking → speaking → idle, driven by keys.

A turn's answer runs in a thread the loop starts, while the loop keeps reading keys: pressing talk again
interrupts the answer and starts listening at once, Escape only interrupts, and q interrupts and quits.
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol, TextIO

from assistant.assistant import Assistant, TurnControl
from assistant.clock import ms_since
from assistant.errors import AssistantError
from assistant.interfaces import AudioSource, FrameSource
from assistant.types import Frame

_LOGGER = logging.getLogger(__name__)

TALK_KEYS = {" ", "\r", "\n"}
STOP_KEYS = {"\x1b"}
"""Escape."""
QUIT_KEYS = {"q", "Q", "\x03", "\x04", ""}
"""q, Ctrl-C, Ctrl-D, and end of input."""

TICK_EVERY_S = 2.0
"""While the user waits for an answer, a soft tick this often says the assistant is still at work."""

READY = (
    "Ready. Press Space or Enter to ask, and press it again when you have finished. "
    "While I speak, Space asks again and Escape stops me. Press q to quit."
)


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
        self._answering: threading.Thread | None = None

    def run(self) -> int:
        """Serve turns until quit; return how many were answered without error."""
        self.say(READY)
        self.assistant.cue("ready")
        answered = 0
        with self.keys.session():
            key: str | None = None
            while True:
                key = key if key is not None else self.keys.read()
                if key in QUIT_KEYS:
                    break
                if key not in TALK_KEYS:
                    key = None
                    continue
                ok, key = self._one_turn()
                answered += ok
        self._wait_for_answer()
        self.say("Goodbye.")
        return answered

    def _one_turn(self) -> tuple[bool, str | None]:
        """Listen, then answer while watching the keys. Returns whether the answer came without error, and
        the key that interrupted it (None when it ended by itself)."""
        try:
            self.audio.start()
        except AssistantError as e:
            self._speak_problem(e)
            return False, None
        self.say("Listening.")
        self.assistant.cue("listening")
        pressed = time.monotonic()
        key = self.keys.read()
        while key not in TALK_KEYS | QUIT_KEYS:
            key = self.keys.read()
        released = time.monotonic()
        self.assistant.cue("thinking")
        frame, camera_problem = self._grab()
        frame_ms = ms_since(released)
        try:
            clip = self.audio.stop()
        except AssistantError as e:
            self._speak_problem(e)
            return False, ("q" if key in QUIT_KEYS else None)
        if key in QUIT_KEYS:
            return False, key
        self.say("Thinking.")
        timings = {"record": ms_since(pressed), "frame": frame_ms}
        self._wait_for_answer()  # one answer at a time: the model is not shared between threads
        control = TurnControl()
        outcome: list[bool] = []

        def answer() -> None:
            turn = self.assistant.answer_recording(clip, frame, camera_problem, timings, released, control)
            outcome.append(turn.error is None)

        self._answering = threading.Thread(target=answer, name="answer", daemon=True)
        self._answering.start()
        next_tick = released + TICK_EVERY_S
        while self._answering.is_alive():
            pressed_key = self.keys.poll(0.02)
            if pressed_key in TALK_KEYS | STOP_KEYS | QUIT_KEYS:
                control.cancel.set()
                self.say("Stopped.")
                return True, (None if pressed_key in STOP_KEYS else pressed_key)
            if not control.audible.is_set() and time.monotonic() >= next_tick:
                self.assistant.cue("tick")
                next_tick += TICK_EVERY_S
        self._wait_for_answer()
        return bool(outcome and outcome[0]), None

    def _wait_for_answer(self) -> None:
        if self._answering is not None:
            self._answering.join()
            self._answering = None

    def _speak_problem(self, error: AssistantError) -> None:
        self._wait_for_answer()
        self.say(error.spoken())
        self.assistant.cue("error")
        self.assistant.speak(error.spoken())

    def _grab(self) -> tuple[Frame | None, AssistantError | None]:
        """The picture at release time, never later."""
        if self.camera is None:
            return None, self.camera_problem
        try:
            return self.camera.grab(), None
        except AssistantError as e:
            _LOGGER.warning("camera: %s", e.message)
            return None, e
