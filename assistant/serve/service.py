"""The engine behind the HTTP service: a conversation per session, one model, one bounded queue.

Requests are decoded in the caller's thread; only the turn itself waits its turn for the models, in the one
worker thread that `start()` begins. Nothing is written to disk: answers' audio is kept in memory, with its session.
"""

from __future__ import annotations

import base64
import logging
import queue
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from assistant.config import ServerConfig
from assistant.core.interfaces import RemoteChat
from assistant.core.live import LiveText, for_speech
from assistant.core.phrases import for_text
from assistant.core.turn import Detail, Engine, Prepared, Session, Settings, TurnControl
from assistant.core.types import AudioChunk, AudioClip, Frame, Turn
from assistant.errors import (
    AssistantError,
    BadInputError,
    BusyError,
    ForbiddenError,
    NoPictureError,
    NotFoundError,
    ReadingOffError,
    TimedOutError,
)
from assistant.hear.audio import decode_audio_bytes
from assistant.see.camera import decode_image_bytes
from assistant.speak.sinks import wav_bytes

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
Event = tuple[str, dict[str, Any]]
"""(name, data): 'transcript', 'sentence', then 'done' or 'error'."""

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_SESSIONS = 256
AUDIO_KEPT_PER_SESSION = 8
DETAILS = ("brief", "detailed")


class CollectingSink:
    """Keeps the answer's audio for the reply, handing each chunk to `on_chunk` as it comes."""

    def __init__(self, on_chunk: Callable[[AudioChunk], None] = lambda chunk: None) -> None:
        self.chunks: list[AudioChunk] = []
        self.on_chunk = on_chunk

    def play(self, chunks: Iterable[AudioChunk], cancel: threading.Event | None = None) -> int:
        played = 0
        for chunk in chunks:
            if cancel is not None and cancel.is_set():
                break
            self.chunks.append(chunk)
            self.on_chunk(chunk)
            played += 1
        return played

    def cue(self, sound: AudioChunk) -> None:
        pass

    def close(self) -> None:
        pass


class TextOnlySynthesizer:
    """For callers that want text alone (POST /infer): each sentence passes through with no sound made."""

    def __init__(self, sample_rate: int) -> None:
        self._sample_rate = sample_rate

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def synthesize(self, text: str, speech_rate: float = 1.0) -> Iterator[AudioChunk]:
        yield AudioChunk(np.zeros(0, np.float32), self._sample_rate, text=text)


@dataclass
class Question:
    """One request's question, decoded and checked, ready for the model's queue."""

    text: str = ""
    clip: AudioClip | None = None
    frame: Frame | None = None
    detail: Detail | None = None
    speech_rate: float | None = None


@dataclass
class Client:
    """One HTTP session: its conversation and settings (a Session over the shared engine), and its answers' audio."""

    id: str
    session: Session
    last_used: float
    answers: int = 0
    audio: OrderedDict[str, bytes] = field(default_factory=OrderedDict)
    """The latest answers' WAVs, by name."""
    preparing: Future[Prepared | None] | None = None
    """The picture sent when the talk button went down, being taken in for the next question."""
    live: LiveText = field(default_factory=LiveText)
    """What live reading has said of the text in view."""
    live_lock: threading.Lock = field(default_factory=threading.Lock)

    def keep_audio(self, wav: bytes) -> str:
        self.answers += 1
        name = f"{self.answers}.wav"
        self.audio[name] = wav
        while len(self.audio) > AUDIO_KEPT_PER_SESSION:
            self.audio.popitem(last=False)
        return name


@dataclass
class LiveNews:
    """What one picture of live reading brought: new text, spoken, or nothing new (text None)."""

    session_id: str
    ocr_ms: float
    text: str | None = None
    replaces: bool = False
    """Whether it is a new sign: what is being said about the old one should stop."""
    hint: str = ""
    audio: bytes = b""
    audio_name: str | None = None


@dataclass
class Reply:
    session_id: str
    turn: Turn
    settings: Settings
    """The session's settings after the turn."""
    audio_name: str | None = None
    audio: bytes = b""


class _Job:
    def __init__(self, work: Callable[[TurnControl], Any]) -> None:
        self.work = work
        self.future: Future[Any] = Future()
        self.control = TurnControl()


class Service:
    def __init__(
        self, engine: Engine, limits: ServerConfig, clock: Callable[[], float] = time.monotonic, moved: float = 0.06
    ) -> None:
        """moved: how much the view may change (0 to 1) between the picture sent at the press and the one sent
        with the question, for the first still to be used."""
        self.engine = engine
        self.limits = limits
        self.moved = moved
        self.clock = clock
        self.sessions: OrderedDict[str, Client] = OrderedDict()
        self._sessions_lock = threading.Lock()
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=max(1, limits.max_queue))
        self._worker: threading.Thread | None = None
        self._turn_s = 5.0
        """A running estimate of one turn's length, for Retry-After."""

    # -- the worker ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="service-worker", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join()
            self._worker = None

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if not job.future.set_running_or_notify_cancel():
                continue  # its caller gave up while it waited
            started = self.clock()
            try:
                job.future.set_result(job.work(job.control))
            except BaseException as e:  # handed to the waiting caller
                job.future.set_exception(e)
            self._turn_s = 0.8 * self._turn_s + 0.2 * (self.clock() - started)

    def submit(self, work: Callable[[TurnControl], T]) -> tuple[Future[T], TurnControl]:
        """Queue work for the models; Busy when the queue is full."""
        job = _Job(work)
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            retry = max(1, round(self._turn_s * (self._jobs.qsize() + 1)))
            raise BusyError("I'm busy with other questions right now.", retry, "Try again in a moment.") from None
        return job.future, job.control

    def wait(self, future: Future[T], control: TurnControl, timeout_s: float | None = None) -> T:
        timeout_s = self.limits.request_timeout_s if timeout_s is None else timeout_s
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            raise self.give_up(future, control, timeout_s) from None

    def give_up(self, future: Future[Any], control: TurnControl, after_s: float) -> TimedOutError:
        """Stop a turn that ran past its time, queued or running; the error that says so."""
        future.cancel()
        control.cancel.set()
        return TimedOutError(f"The answer took longer than {after_s:g} seconds, so I stopped it.")

    @property
    def waiting(self) -> int:
        return self._jobs.qsize()

    # -- sessions -----------------------------------------------------------------------------------

    def session(self, session_id: str | None) -> Client:
        """The session with this id, made if new; a new id when none is given."""
        if session_id is not None and not _SESSION_ID.fullmatch(session_id):
            raise BadInputError("The session_id may hold only letters, digits, '-' and '_', at most 64 of them.")
        now = self.clock()
        with self._sessions_lock:
            self._forget_idle(now)
            session = self.sessions.get(session_id or "")
            if session is None:
                new_id = session_id or uuid.uuid4().hex
                session = Client(new_id, self.engine.session(CollectingSink()), now)
                session.session.client_reads_live = True
                self.sessions[new_id] = session
                while len(self.sessions) > MAX_SESSIONS:
                    self.sessions.popitem(last=False)
            session.last_used = now
            self.sessions.move_to_end(session.id)
            return session

    def existing(self, session_id: str) -> Client:
        with self._sessions_lock:
            self._forget_idle(self.clock())
            session = self.sessions.get(session_id)
        if session is None:
            raise NotFoundError(
                "There is no such session. It may have expired; a new one starts with the next question."
            )
        return session

    def reset(self, session_id: str) -> None:
        session = self.existing(session_id)
        session.session = self.engine.session(CollectingSink())
        session.audio.clear()

    def _forget_idle(self, now: float) -> None:
        for session_id in [s.id for s in self.sessions.values() if now - s.last_used > self.limits.session_idle_s]:
            del self.sessions[session_id]

    # -- input --------------------------------------------------------------------------------------

    def question(
        self,
        text: str | None = None,
        audio: bytes | None = None,
        image: bytes | None = None,
        detail: str | None = None,
        speech_rate: float | None = None,
    ) -> Question:
        """Decode and check a request's parts; a BadInputError says what is wrong."""
        text = (text or "").strip()
        if not text and not audio:
            raise BadInputError("There is no question: send a recording or type one.")
        if detail is not None and detail not in DETAILS:
            raise BadInputError("detail should be 'brief' or 'detailed'.")
        chosen: Detail | None = "brief" if detail == "brief" else "detailed" if detail == "detailed" else None
        _check_speech_rate(speech_rate)
        clip = None
        if audio and not text:
            clip = decode_audio_bytes(audio, max_s=self.limits.max_audio_s)
        frame = self.picture(image) if image else None
        return Question(text, clip, frame, chosen, speech_rate)

    def picture(self, data: bytes) -> Frame:
        return decode_image_bytes(data, self.limits.max_image_pixels)

    def picture_at(self, image_path: str) -> Frame:
        """A picture from disk, only from inside an allowed folder (symlinks and '..' resolved first)."""
        if not self.limits.allowed_dirs:
            raise ForbiddenError(
                "This service opens no pictures by path.", "Send the picture itself, or start it with --allow-dir."
            )
        try:
            path = Path(image_path).expanduser().resolve()
        except (OSError, RuntimeError, ValueError) as e:
            raise BadInputError("That image_path is not a path I can use.") from e
        allowed = [Path(folder).expanduser().resolve() for folder in self.limits.allowed_dirs]
        if not any(path.is_relative_to(folder) for folder in allowed):
            raise ForbiddenError(
                "That picture is outside the folders this service may read.",
                "Allowed: " + ", ".join(str(folder) for folder in allowed) + ".",
            )
        if not path.is_file():
            raise NotFoundError(f"There is no picture at {image_path}.")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise ForbiddenError(f"I can't read the picture at {image_path}: {e.strerror}.") from e
        return self.picture(data)

    # -- turns --------------------------------------------------------------------------------------

    def prepare(self, client: Client, frame: Frame) -> None:
        """Take the picture in for the client's next question, in the worker, while the person is still speaking,
        its text read first, as the loop does; the question queued after it finds both done."""

        def take_in(control: TurnControl) -> Prepared | None:
            read = client.session.read_ahead(frame) if client.session.engine.options.say_first else None
            return client.session.prepare(frame, control.cancel, read)

        future, _ = self.submit(take_in)
        client.preparing = future

    def ask(
        self, session: Client, question: Question, on_event: Callable[[str, dict[str, Any]], None] | None = None
    ) -> tuple[Future[Reply], TurnControl]:
        """Queue one turn in a session; `on_event` hears the transcript and each sentence as they come."""
        emit = on_event or (lambda name, data: None)
        try:
            return self.submit(lambda control: self._turn(session, question, control, emit))
        except BusyError:
            self._forget_if_unused(session)
            raise

    def read_live(self, client: Client, frame: Frame, restart: bool, speech_rate: float | None) -> LiveNews:
        """One picture of the client's live reading: the text new in it, spoken, or nothing new. OCR runs in the
        caller's thread, beside the model's queue: a live picture never waits behind a question."""
        reader = self.engine.reader
        if reader is None:
            say = client.session.book
            raise ReadingOffError(say.reading_off, say.reading_off_fix)
        _check_speech_rate(speech_rate)
        reading = reader.read(frame.image)
        with client.live_lock:
            if restart:
                client.live = LiveText()
            news = client.live.feed(reading)
        client.last_used = self.clock()
        if news is None:
            return LiveNews(client.id, reading.elapsed_ms)
        text = "\n".join(news.lines)
        hint = for_text(text).edge_hint(news.edges)
        spoken = for_speech(text, hint)
        rate = speech_rate or client.session.settings.speech_rate
        wav = wav_bytes(list(self.engine.synthesizer.synthesize(spoken, rate)))
        return LiveNews(client.id, reading.elapsed_ms, text, news.replaces, hint, wav, client.keep_audio(wav))

    def _forget_if_unused(self, client: Client) -> None:
        """Drop a session that a refused request made and nothing used: under load, a client retrying its first
        question would otherwise make one each time, and push the sessions in use out past MAX_SESSIONS."""
        with self._sessions_lock:
            unused = client.answers == 0 and client.preparing is None and not client.session.conversation.exchanges
            if unused and self.sessions.get(client.id) is client:
                del self.sessions[client.id]

    def infer(self, prompt: str, frame: Frame | None) -> tuple[Future[Turn], TurnControl]:
        """A turn with no memory and no sound: the seed's POST /infer."""
        if not prompt.strip():
            raise BadInputError("The prompt is empty. Please ask something.")
        text_only = TextOnlySynthesizer(self.engine.synthesizer.sample_rate)
        session = self.engine.session(CollectingSink(), synthesizer=text_only)
        camera_problem = None if frame else NoPictureError(for_text(prompt).no_picture_given)
        return self.submit(lambda control: session.answer_text(prompt, frame, camera_problem, control))

    def _turn(
        self, client: Client, question: Question, control: TurnControl, emit: Callable[[str, dict[str, Any]], None]
    ) -> Reply:
        session = client.session

        def sentence(chunk: AudioChunk) -> None:
            audio = base64.b64encode(wav_bytes([chunk])).decode("ascii")
            emit("sentence", {"text": chunk.text, "audio_base64": audio})

        def notify(kind: str, text: str) -> None:
            if kind == "question":
                emit("transcript", {"text": text})

        sink = CollectingSink(sentence)
        session.sink, session.notify = sink, notify
        session.choose(question.speech_rate, question.detail)
        preparing, client.preparing = client.preparing, None
        frame = self._picture_for(question.frame, preparing) or session.conversation.newest_full_frame
        camera_problem = None if frame else NoPictureError(for_text(question.text).no_picture_given)
        try:
            if question.clip is not None:
                turn = session.answer_recording(question.clip, frame, camera_problem, None, None, control, preparing)
            else:
                turn = session.answer_text(question.text, frame, camera_problem, control, preparing)
        finally:
            client.last_used = self.clock()
        reply = Reply(client.id, turn, session.settings)
        if sink.chunks:
            reply.audio = wav_bytes(sink.chunks)
            reply.audio_name = client.keep_audio(reply.audio)
        return reply

    def _picture_for(self, sent: Frame | None, preparing: Future[Prepared | None] | None) -> Frame | None:
        """The question's picture: the one sent at the press when the question brings none or one of the same view
        (so that what was taken in is used), else the one it brings; a follow-up brings none and has none ready."""
        prepared = None
        if preparing is not None and preparing.done() and not preparing.cancelled():
            prepared = preparing.result() if preparing.exception() is None else None
        if prepared is None:
            return sent
        if sent is None or self.engine.sight.view_change(prepared.frame, sent) <= self.moved:
            return prepared.frame
        return sent

    def health(self) -> dict[str, Any]:
        engine = self.engine
        vlm: dict[str, Any] = {"state": "ready"}
        if isinstance(engine.vlm, RemoteChat):
            try:
                vlm["server"] = engine.vlm.check()
            except AssistantError as e:
                vlm = {"state": "unreachable", "detail": e.spoken()}
        if engine.vlm is None:
            problem = engine.vlm_problem
            vlm = {"state": "missing", "detail": problem.spoken() if problem else "No vision model is installed."}
        parts = {
            "speech_recognition": {"state": "ready"},
            "speech": {"state": "ready", "sample_rate": engine.synthesizer.sample_rate},
            "vision": vlm,
            "text_reading": {"state": "ready" if engine.reader is not None else "off"},
        }
        return {
            "status": "ok" if vlm["state"] == "ready" else "degraded",
            "parts": parts,
            "queue": {"waiting": self.waiting, "capacity": self._jobs.maxsize},
            "sessions": len(self.sessions),
        }


def _check_speech_rate(speech_rate: float | None) -> None:
    if speech_rate is not None and not 0.5 <= speech_rate <= 2.5:
        raise BadInputError("speech_rate should be between 0.5 and 2.5.")
