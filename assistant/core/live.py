"""Live text: the camera read continuously, new text spoken as it comes into view.

`LiveText` decides, reading by reading, what is new: a line already said is not said again while it stays in
view (OCR's small differences between frames, and a line that grows as it slides in, count as the same line); a
sign whose lines are all new replaces the old one, which is cut short; text that runs into an edge waits one more
reading to come in whole, then is said with a hint of which way to move. `LiveReader` runs it on a camera, speaks
what it finds, and stops when asked or after a quiet while.
"""

from __future__ import annotations

import difflib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from assistant.core.clock import ms_since
from assistant.core.interfaces import AudioSink, FrameSource, Synthesizer, TextReader
from assistant.core.phrases import Phrases
from assistant.core.reading import Reading, edges_touched
from assistant.core.speech import lines_for_speech
from assistant.core.types import AudioChunk, Frame
from assistant.errors import AssistantError, VideoEndedError

_LOGGER = logging.getLogger(__name__)

SAME_LINE = 0.75
"""Two lines read in different frames are the same line when this alike (0 to 1), or when one holds the other."""
GONE_AFTER = 2
"""Readings without text after which the text in view has left it, and would be said again if it came back."""
QUIET_S = 60.0
"""Live reading stops by itself after this long without new text."""


def _key(line: str) -> str:
    return re.sub(r"[\W_]+", "", line.lower())


def _same(a: str, b: str) -> bool:
    if not a or not b:
        return a == b
    return a in b or b in a or difflib.SequenceMatcher(None, a, b).ratio() >= SAME_LINE


def for_speech(text: str, hint: str) -> str:
    """A reading as it is said: each line with a pause after it, then the hint, if any."""
    return " ".join([lines_for_speech(text), hint]).strip()


@dataclass(frozen=True)
class News:
    """What one reading brought."""

    lines: list[str]
    """The lines to say, in reading order."""
    replaces: bool
    """Whether they are a new sign: what is being said about the old one should stop."""
    edges: list[str] = field(default_factory=list)
    """The edges they run into: the camera should move that way."""


class LiveText:
    """What is new in each reading, against what is in view and has been said."""

    def __init__(self) -> None:
        self.in_view: list[str] = []
        """Keys of the lines said while they stay in view."""
        self._empty = 0
        self._waiting: list[str] = []
        """Keys of cut-off lines held back one reading, to come in whole."""

    def feed(self, reading: Reading) -> News | None:
        rows = [" ".join(line.text for line in row).strip() for row in reading.rows]
        rows = [row for row in rows if _key(row)]
        if not rows:
            self._empty += 1
            if self._empty >= GONE_AFTER:
                self.in_view, self._waiting = [], []
            return None
        self._empty = 0
        new = [row for row in rows if not any(_same(_key(row), seen) for seen in self.in_view)]
        if not new:
            return None
        edges = edges_touched(reading)
        keys = [_key(row) for row in new]
        if edges and keys != self._waiting:
            self._waiting = keys  # cut off: it may be sliding in, so wait one reading for the whole of it
            return None
        self._waiting = []
        replaces = len(new) == len(rows) and bool(self.in_view)
        self.in_view = [_key(row) for row in rows] if replaces else self.in_view + keys
        return News(new, replaces, edges)


@dataclass
class Heard:
    """One reading said aloud, as the live log records it."""

    text: str
    t_seen_ms: float
    """When the picture it was read in was taken: the video's time, with a video for a camera."""
    t_spoken_ms: float | None = None
    """When its first sound went to the speaker, on the same clock; None if it was cut before."""
    hint: str = ""
    interrupted: bool = False

    def record(self) -> dict[str, Any]:
        return {
            "mode": "live",
            "text": self.text,
            "t_seen_ms": round(self.t_seen_ms, 1),
            "t_spoken_ms": None if self.t_spoken_ms is None else round(self.t_spoken_ms, 1),
            "hint": self.hint,
            "interrupted": self.interrupted,
        }


class StillCamera:
    """One picture as a camera that shows it once: live reading of a still picture reads it, then ends."""

    def __init__(self, frame: Frame) -> None:
        self.frame: Frame | None = frame

    def grab(self) -> Frame:
        frame, self.frame = self.frame, None
        if frame is None:
            raise VideoEndedError("The picture has been read.")
        return frame

    def close(self) -> None:
        pass


class LiveReader:
    """Reads a camera until `cancel` is set, the camera's video ends, or nothing new was read for `quiet_s`;
    each new text is spoken while the next pictures are read, and a new sign cuts the old one short."""

    def __init__(
        self,
        camera: FrameSource,
        reader: TextReader,
        synthesizer: Synthesizer,
        sink: AudioSink,
        say: Phrases,
        speech_rate: float = 1.0,
        quiet_s: float = QUIET_S,
        on_heard: Callable[[Heard], None] = lambda heard: None,
    ) -> None:
        self.camera = camera
        self.reader = reader
        self.synthesizer = synthesizer
        self.sink = sink
        self.say = say
        self.speech_rate = speech_rate
        self.quiet_s = quiet_s
        self.on_heard = on_heard
        """Called once each reading has been spoken, or cut short."""
        self.heard: list[Heard] = []
        self._queue: queue.Queue[tuple[Heard, threading.Event] | None] = queue.Queue()
        self._current: threading.Event | None = None
        self._started = time.monotonic()

    def clock_ms(self) -> float:
        """Time since reading began, or the camera's own clock when it has one (a video played at its pace)."""
        clock = getattr(self.camera, "clock_ms", None)
        return float(clock()) if clock is not None else ms_since(self._started)

    def run(self, cancel: threading.Event) -> str:
        """Read until stopped; returns why it stopped: 'cancelled', 'ended' or 'quiet'."""
        self._started = time.monotonic()
        speaker = threading.Thread(target=self._speak_queue, args=(cancel,), name="live-speaker", daemon=True)
        speaker.start()
        live, last_new, why = LiveText(), time.monotonic(), "cancelled"
        try:
            while not cancel.is_set():
                try:
                    frame = self.camera.grab()
                except VideoEndedError:
                    why = "ended"
                    break
                seen_ms = frame.time_ms if frame.time_ms is not None else self.clock_ms()
                news = live.feed(self.reader.read(frame.image))
                if news is not None:
                    last_new = time.monotonic()
                    self._announce(news, seen_ms)
                elif time.monotonic() - last_new > self.quiet_s and self._queue.empty():
                    why = "quiet"
                    break
        finally:
            if cancel.is_set():
                self._cut_current()
            self._queue.put(None)
            speaker.join()
        return why

    def _announce(self, news: News, seen_ms: float) -> None:
        text = "\n".join(news.lines)
        hint = self.say.edge_hint(news.edges)
        if news.replaces:
            self._cut_current()
        stop = threading.Event()
        self._queue.put((Heard(text, seen_ms, hint=hint), stop))

    def _cut_current(self) -> None:
        """Stop what is being said, and drop what waits to be said."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].interrupted = True
                self._finish(item[0])
        if self._current is not None:
            self._current.set()

    def _speak_queue(self, cancel: threading.Event) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            heard, stop = item
            if cancel.is_set():  # stopped while the last reading was said: what waits is not begun
                heard.interrupted = True
                self._finish(heard)
                continue
            self._current = stop
            try:
                self._speak(heard, stop)
            except AssistantError as e:
                _LOGGER.error("could not speak what was read: %s", e.message)
            heard.interrupted = heard.interrupted or stop.is_set()
            self._current = None
            self._finish(heard)

    def _speak(self, heard: Heard, stop: threading.Event) -> None:
        text = for_speech(heard.text, heard.hint)

        def timed() -> Iterator[AudioChunk]:
            for chunk in self.synthesizer.synthesize(text, self.speech_rate):
                if heard.t_spoken_ms is None:
                    heard.t_spoken_ms = self.clock_ms()
                yield chunk

        self.sink.play(timed(), stop)

    def _finish(self, heard: Heard) -> None:
        self.heard.append(heard)
        self.on_heard(heard)
