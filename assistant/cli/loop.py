"""The push-to-talk loop: idle → listening → thinking → speaking → idle, driven by keys.

A turn's answer runs in a thread the loop starts, while the loop keeps reading keys: pressing talk again
interrupts the answer and starts listening at once, Escape only interrupts, and q interrupts and quits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from assistant.core.clock import ms_since
from assistant.core.interfaces import AudioSource, FrameSource
from assistant.core.turn import Session, TurnControl
from assistant.core.types import Frame
from assistant.errors import AssistantError
from assistant.hear.keys import QUIT_KEYS, STOP_KEYS, TALK_KEYS, KeySource

_LOGGER = logging.getLogger(__name__)

TICK_EVERY_S = 2.0
"""While the user waits for an answer, a soft tick this often says the assistant is still at work."""

READY = (
    "Ready. Press Space or Enter to ask, and press it again when you have finished. "
    "While I speak, Space asks again and Escape stops me. Press q to quit."
)


class PushToTalkLoop:
    def __init__(
        self,
        session: Session,
        audio: AudioSource,
        camera: FrameSource | None,
        keys: KeySource,
        say: Callable[[str], None],
        camera_problem: AssistantError | None = None,
    ) -> None:
        self.session = session
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
        self.session.cue("ready")
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
        self.session.cue("listening")
        pressed = time.monotonic()
        key = self.keys.read()
        while key not in TALK_KEYS | QUIT_KEYS:
            key = self.keys.read()
        released = time.monotonic()
        self.session.cue("thinking")
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
            turn = self.session.answer_recording(clip, frame, camera_problem, timings, released, control)
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
                self.session.cue("tick")
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
        self.session.cue("error")
        self.session.speak(error.spoken())

    def _grab(self) -> tuple[Frame | None, AssistantError | None]:
        """The picture at release time, never later."""
        if self.camera is None:
            return None, self.camera_problem
        try:
            return self.camera.grab(), None
        except AssistantError as e:
            _LOGGER.warning("camera: %s", e.message)
            return None, e
