"""The push-to-talk loop: idle → listening → thinking → speaking → idle, driven by keys.

A turn's answer runs in a thread the loop starts, while the loop keeps reading keys: pressing talk again
interrupts the answer and starts listening at once, Escape only interrupts, and q interrupts and quits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from assistant.core.clock import ms_since
from assistant.core.interfaces import AudioSource, FrameSource
from assistant.core.turn import Prepared, ReadAhead, Session, TurnControl
from assistant.core.types import Frame
from assistant.errors import AssistantError
from assistant.hear.keys import LIVE_KEYS, QUIT_KEYS, STOP_KEYS, TALK_KEYS, KeySource

_LOGGER = logging.getLogger(__name__)

TICK_EVERY_S = 2.0
"""While the user waits for an answer, a soft tick this often says the assistant is still at work."""


class PushToTalkLoop:
    def __init__(
        self,
        session: Session,
        audio: AudioSource,
        camera: FrameSource | None,
        keys: KeySource,
        say: Callable[[str], None],
        camera_problem: AssistantError | None = None,
        prepare: bool = True,
        moved: float = 0.06,
        tick_every_s: float = TICK_EVERY_S,
    ) -> None:
        """prepare: take the picture in at the press, while the question is spoken. moved: how much the view
        may change (0 to 1) between press and release before the picture is taken again."""
        self.session = session
        self.audio = audio
        self.camera = camera
        self.keys = keys
        self.say = say
        """Prints a line for the screen reader."""
        self.camera_problem = camera_problem
        self.prepare = prepare
        self.moved = moved
        self.tick_every_s = tick_every_s
        self._answering: threading.Thread | None = None
        self._control: TurnControl | None = None
        """The answer's or the live reading's, while one runs."""
        self._answered = 0

    def run(self) -> int:
        """Serve turns until quit; return how many were answered without error."""
        self.say(self.session.book.keys_help)
        self.session.cue("ready")
        try:
            self._serve_keys()
        except BaseException:  # Ctrl+C or SIGTERM: the answer stops, and nothing is left using the models
            if self._control is not None:
                self._control.cancel.set()
            self._wait_for_answer()
            raise
        self._wait_for_answer()
        self.say(self.session.book.goodbye)
        return self._answered

    def _serve_keys(self) -> None:
        """Turns, and live reading, by the keys pressed, until quit."""
        with self.keys.session():
            key: str | None = None
            while True:
                key = key if key is not None else self.keys.read()
                if key in QUIT_KEYS:
                    break
                if key in LIVE_KEYS:
                    key = self._read_live()
                    continue
                if key not in TALK_KEYS:
                    key = None
                    continue
                ok, key = self._one_turn()
                self._answered += ok

    def _one_turn(self) -> tuple[bool, str | None]:
        """Listen, then answer while watching the keys. Returns whether the answer came without error, and
        the key that interrupted it (None when it ended by itself)."""
        try:
            self.audio.start()
        except AssistantError as e:
            self._speak_problem(e)
            return False, None
        self.say(self.session.book.listening)
        self.session.cue("listening")
        pressed = time.monotonic()
        control = self._control = TurnControl()
        early = Preparation(self.session, self.camera) if self.prepare and self.camera else None
        key = self.keys.read()
        while key not in TALK_KEYS | QUIT_KEYS:
            key = self.keys.read()
        released = time.monotonic()
        self.session.cue("thinking")
        if early is not None:
            early.grabbed.wait()  # the camera gives one picture at a time
        frame, camera_problem = self._grab()
        frame_ms = ms_since(released)
        if early is not None:
            frame, camera_problem = early.settle(frame, camera_problem, self.moved)
        try:
            clip = self.audio.stop()
        except AssistantError as e:
            if early is not None:
                early.stale.set()
            self._speak_problem(e)
            return False, ("q" if key in QUIT_KEYS else None)
        if key in QUIT_KEYS:
            if early is not None:
                early.stale.set()
            return False, key
        self.say(self.session.book.thinking)
        timings = {"record": ms_since(pressed), "frame": frame_ms}
        self._wait_for_answer()  # one answer at a time
        outcome: list[bool] = []
        preparing = early.future if early is not None else None
        reading = early.reading if early is not None else None

        def answer() -> None:
            turn = self.session.answer_recording(
                clip, frame, camera_problem, timings, released, control, preparing, reading
            )
            outcome.append(turn.error is None)

        self._answering = threading.Thread(target=answer, name="answer", daemon=True)
        self._answering.start()
        next_tick = released + self.tick_every_s
        while self._answering.is_alive():
            pressed_key = self.keys.poll(0.02)
            if pressed_key in TALK_KEYS | STOP_KEYS | QUIT_KEYS:
                control.cancel.set()
                if early is not None:
                    early.stale.set()
                self.say(self.session.book.stopped)
                return True, (None if pressed_key in STOP_KEYS else pressed_key)
            if not control.audible.is_set() and time.monotonic() >= next_tick:
                self.session.cue("tick")
                next_tick += self.tick_every_s
        self._wait_for_answer()
        return bool(outcome and outcome[0]), None

    def _read_live(self) -> str | None:
        """Live text until any key, which is returned if it asks for something else (talk or quit)."""
        self._wait_for_answer()
        self.say(self.session.book.reading_live)
        frame, _ = self._grab()
        control = self._control = TurnControl()
        reading = threading.Thread(target=self.session.read_live, args=(frame, control), name="live", daemon=True)
        self._answering = reading
        reading.start()
        pressed: str | None = None
        while reading.is_alive():
            pressed = self.keys.poll(0.05)
            if pressed is not None:
                control.cancel.set()
                break
        self._wait_for_answer()
        if pressed is not None:
            self.say(self.session.book.stopped)
        return pressed if pressed in TALK_KEYS | QUIT_KEYS else None

    def _wait_for_answer(self) -> None:
        if self._answering is not None:
            if self._answering.ident is not None:  # a signal may come between making the thread and starting it
                self._answering.join()
            self._answering = None

    def _speak_problem(self, error: AssistantError) -> None:
        self._wait_for_answer()
        said = self.session.book.explain(error)
        self.say(said)
        self.session.cue("error")
        self.session.speak(said)

    def _grab(self) -> tuple[Frame | None, AssistantError | None]:
        """The picture at release time, never later."""
        if self.camera is None:
            return None, self.camera_problem
        try:
            return self.camera.grab(), None
        except AssistantError as e:
            _LOGGER.warning("camera: %s", e.message)
            return None, e


class Preparation:
    """The picture taken at the press, its text read, then its encoding, done beside the recording in a thread of
    their own."""

    def __init__(self, session: Session, camera: FrameSource) -> None:
        self.session = session
        self.camera = camera
        self.stale = threading.Event()
        """Set when the turn is given up or the picture is not wanted: preparing stops at its next step."""
        self.frame: Frame | None = None
        self.grabbed = threading.Event()
        self.future: Future[Prepared | None] = Future()
        self.reading: Future[ReadAhead | None] = Future()
        threading.Thread(target=self._run, name="prepare", daemon=True).start()

    def _run(self) -> None:
        self.future.set_running_or_notify_cancel()
        self.reading.set_running_or_notify_cancel()
        try:
            self.frame = self.camera.grab()
        except AssistantError as e:
            _LOGGER.warning("camera at the press: %s", e.message)
        finally:
            self.grabbed.set()
        # What can be said at once is read first; when nothing is said first, the model's work goes first.
        if self.session.engine.options.say_first:
            self._read()
            self._prepare(self.reading.result())
        else:
            self._prepare(None)
            self._read()

    def _read(self) -> None:
        read = None
        try:
            if self.frame is not None and not self.stale.is_set():
                read = self.session.read_ahead(self.frame)
        except Exception as e:  # the turn then reads the picture itself
            _LOGGER.warning("could not read the picture ahead: %r", e)
        self.reading.set_result(read)

    def _prepare(self, read: ReadAhead | None) -> None:
        prepared = None
        try:
            if self.frame is not None and not self.stale.is_set():
                prepared = self.session.prepare(self.frame, self.stale, read)
        except Exception as e:  # the turn then takes the picture in itself, after the release
            _LOGGER.warning("could not prepare the picture: %r", e)
        self.future.set_result(prepared)

    def settle(
        self, released: Frame | None, problem: AssistantError | None, moved: float
    ) -> tuple[Frame | None, AssistantError | None]:
        """The picture to answer about: the one taken at the press when the view is still the same, else the one
        taken at the release, so that the answer is never about a picture older than the press."""
        if self.frame is None:
            return released, problem
        if released is None:
            return self.frame, None
        change = self.session.engine.sight.view_change(self.frame, released)
        if change <= moved:
            return self.frame, None
        _LOGGER.info("the view changed during the question (%.2f): the picture is taken again", change)
        self.stale.set()
        return released, problem
