"""One turn over the interfaces: question in, spoken answer out.

The Engine holds what every conversation shares: the loaded models, the reader, how pictures are measured. A
Session is one conversation over an engine: its memory, its settings (speech rate, brief or detailed answers), its
last answer and where its sound goes. Settings travel with each call (the synthesizer is given the session's rate);
nothing a session chooses is written onto the engine. One turn's context travels as a TurnContext.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from assistant.config import save_setting
from assistant.core import documents
from assistant.core.clock import ms_since
from assistant.core.commands import by_sound
from assistant.core.commands import match as match_command
from assistant.core.conversation import SYSTEM_PROMPT, Conversation
from assistant.core.critical import AnswerCheck
from assistant.core.heard import check_heard, is_doubtful
from assistant.core.interfaces import (
    AudioSink,
    Cues,
    FrameSource,
    PreparingChat,
    ScoringTranscriber,
    Sight,
    Synthesizer,
    TextReader,
    Transcriber,
    VisionChat,
)
from assistant.core.live import Heard, LiveReader, StillCamera
from assistant.core.phrases import BOOKS, Phrases, for_text
from assistant.core.pipeline import SequentialSpeech, SpeechStream
from assistant.core.presets import DESCRIBE, Preset, choose_preset
from assistant.core.reading import Reading, edges_touched
from assistant.core.routing import ANSWERERS, Answerer, Route, asks_for_detail, is_chinese, needs_sight, route
from assistant.core.speech import lines_for_speech
from assistant.core.turnlog import TurnLog
from assistant.core.types import AudioChunk, AudioClip, Frame, PromptCost, Quality, Turn
from assistant.errors import (
    AssistantError,
    EmptyQuestionError,
    NoAnswerError,
    NoPictureError,
    NothingToDescribeError,
    NoVisionModelError,
    NowhereToSaveError,
    ReadingOffError,
)

_LOGGER = logging.getLogger(__name__)

RATE_STEP, SLOWEST, FASTEST = 0.25, 0.5, 2.5
BRIEF_MAX_TOKENS = 48
LIGHT_PIECE_S = 0.1
LIGHT_MODE_S = 60.0
"""Light mode stops by itself after this long with a live camera."""
LIGHT_STILL_S = 2.0
"""With one still picture there is nothing to follow: the tone plays this long."""
VERY_DARK = 0.04
"""Below this mean brightness a colour is named with a warning that it may be wrong."""
_LOCAL_ROUTES = {Route.READ, Route.DOCUMENT, Route.LIGHT, Route.COLOUR}
NEW_VIEW = 0.06
"""View change (0 to 1, see Sight.view_change) from the conversation's last picture above which a picture is new."""
SAY_FIRST_WORDS = 20
"""At most this many words of the text in view are said before the model's answer."""

Detail = Literal["brief", "detailed"]


@dataclass(frozen=True)
class Settings:
    """What one session has chosen; given to each call, never written onto what sessions share."""

    speech_rate: float = 1.0
    """1.0 is the voice's own speed."""
    detail: Detail = "detailed"
    """'brief' caps answers at BRIEF_MAX_TOKENS."""


@dataclass
class TurnControl:
    """What the loop and a turn share while the answer plays."""

    cancel: threading.Event = field(default_factory=threading.Event)
    """Set by the loop to interrupt: generation, synthesis and playback stop."""
    audible: threading.Event = field(default_factory=threading.Event)
    """Set by the turn once it has started to make a sound, so the loop stops its waiting ticks."""


@dataclass(frozen=True)
class ImageBudgets:
    """Image tokens are what a new picture costs: the vision encoder's time and the prefill's grow with them."""

    first_look: int = 64
    """A first look and short questions: "what's in front of me?", "is it the blue one?"."""
    detail: int = 256
    """"More detail", and questions that ask for detail."""
    read: int = 768
    """Where the model must read: questions about text that OCR's text alone does not answer."""

    def for_question(self, route: str | None, question: str) -> int:
        if route == Route.TEXT.value:
            return self.read
        if asks_for_detail(question):
            return self.detail
        return self.first_look


@dataclass(frozen=True)
class AnswerOptions:
    n_ctx: int = 4096
    """The model's context; history is trimmed to fit it, with room for the answer."""
    temperature: float = -1.0
    """Overrides every preset's temperature when 0 or more."""
    max_tokens: int = 0
    """Caps every answer's length in tokens when above 0."""
    streaming: bool = True
    """Speak each sentence as it comes; False speaks only once the whole answer is written (for comparison)."""
    budgets: ImageBudgets = field(default_factory=ImageBudgets)
    """How many image tokens a picture may become, by what the question needs."""
    say_first: bool = True
    """For a general question about a new picture, say the text in view at once, then the model's answer."""
    language: str = "en"
    """en or zh: what is said before any question tells the language (auto starts in English)."""


@dataclass
class Prepared:
    """A picture taken in while the question was still being spoken: encoded and evaluated behind the
    conversation so far, so that after the release only the question's words are left to evaluate."""

    frame: Frame
    """The picture as the camera gave it at the press."""
    model_frame: Frame
    """The copy the model was given, at the first-look budget."""
    cost: PromptCost


@dataclass(frozen=True)
class ReadAhead:
    """Text read in a picture before its question was answered: at the press, while the question was spoken; and
    what a general question about it would be told first, in the language of the last question."""

    frame_sha256: str
    reading: Reading
    lead: tuple[str, ...] = ()
    """What would be said before the model's answer."""
    speech_rate: float = 1.0
    spoken: Future[dict[str, list[AudioChunk]]] | None = None
    """The lead's speech, being synthesized: each part's chunks, at `speech_rate`."""

    def speech_for(self, lead: list[str], speech_rate: float) -> dict[str, list[AudioChunk]]:
        """The lead's speech when the turn says this very lead at this rate; else nothing."""
        if self.spoken is None or tuple(lead) != self.lead or speech_rate != self.speech_rate:
            return {}
        try:
            return self.spoken.result()
        except AssistantError:
            return {}


@dataclass
class TurnContext:
    """One turn on its way through a session."""

    turn: Turn
    frame: Frame | None
    camera_problem: AssistantError | None
    released_at: float
    control: TurnControl
    say: Phrases
    """The phrase book in the question's language."""
    preparing: Future[Prepared | None] | None = None
    """The picture being taken in while the question was spoken, if any."""
    reading_ahead: Future[ReadAhead | None] | None = None
    """The picture's text being read while the question was spoken, if any."""
    read_before: ReadAhead | None = None
    """What was read at the press, when it was of this turn's picture."""
    lead: list[str] = field(default_factory=list)
    """Said at once, before the model's answer: what is wrong with the picture, the text in view."""
    check: AnswerCheck | None = None
    """Holds the model's sentences against the text read in the picture."""
    command: str | None = None
    """The command a recording said, found in its transcript or its sound; a typed question is matched later."""
    heard_as: str = ""
    """Said before the answer when the question was hard to hear: what was heard."""


Notify = Callable[[str, str], None]
"""notify(kind, text): kind is 'question', 'sentence', 'error' or 'status'."""


def _ignore(kind: str, text: str) -> None:
    pass


class Engine:
    """The loaded models and readers, shared by every session."""

    def __init__(
        self,
        transcriber: Transcriber,
        synthesizer: Synthesizer,
        sight: Sight,
        cues: Cues,
        vlm: VisionChat | None = None,
        vlm_problem: AssistantError | None = None,
        reader: TextReader | None = None,
        turn_log: TurnLog | None = None,
        options: AnswerOptions | None = None,
        settings: Settings | None = None,
        system_prompt: str = SYSTEM_PROMPT,
        max_turns: int = 8,
    ) -> None:
        self.transcriber = transcriber
        self.synthesizer = synthesizer
        self.sight = sight
        self.cues = cues
        self.vlm = vlm
        self.vlm_problem = vlm_problem
        """Why there is no VLM, when one was configured but failed to load."""
        self.reader = reader
        """Reads text in pictures; None turns reading off."""
        self.turn_log = turn_log
        self.options = options or AnswerOptions()
        self.settings = settings or Settings()
        """What a new session starts with."""
        self.system_prompt = system_prompt
        self.max_turns = max_turns
        self.model_lock = threading.Lock()
        """Held while the vision model works: one prompt at a time, whichever session or thread asks."""

    def warm_up(self, picture: Frame) -> PromptCost | None:
        """Evaluate the system prompt into the KV cache and encode one picture once, so that the first question
        after start pays for neither (llama.cpp's own warm-up runs no picture through the encoder)."""
        vlm = self.vlm
        if not isinstance(vlm, PreparingChat):
            return None
        picture = self.sight.for_model(picture, self.options.budgets.first_look, vlm.pixels_per_token)
        warm = Conversation(self.system_prompt, self.max_turns).with_question("", picture)
        with self.model_lock:
            return vlm.prefill(warm.messages(self._image_part_of(picture)))

    def _image_part_of(self, picture: Frame) -> Callable[[Frame], dict[str, Any]]:
        url = self.sight.data_url(picture)
        return lambda frame: {"type": "image_url", "image_url": {"url": url}}

    def session(
        self,
        sink: AudioSink,
        notify: Notify = _ignore,
        sounds: bool = False,
        settings_path: Path | None = None,
        camera: FrameSource | None = None,
        synthesizer: Synthesizer | None = None,
    ) -> Session:
        return Session(self, sink, notify, sounds, settings_path, camera, synthesizer)

    def close(self) -> None:
        """Free the model, once what uses it now has finished: one more step of generation at most."""
        if self.vlm is not None:
            with self.model_lock:
                self.vlm.close()


class Session:
    """One conversation over an engine: its memory, its settings and where its sound goes."""

    def __init__(
        self,
        engine: Engine,
        sink: AudioSink,
        notify: Notify = _ignore,
        sounds: bool = False,
        settings_path: Path | None = None,
        camera: FrameSource | None = None,
        synthesizer: Synthesizer | None = None,
    ) -> None:
        self.engine = engine
        self.sink = sink
        self.notify = notify
        self.sounds = sounds
        """Whether the state sounds (earcons) play; the engine's cues decide their volume."""
        self.settings_path = settings_path
        """The config file that 'save settings' writes the speech rate to."""
        self.camera = camera
        """Live pictures for light mode; without one, light mode follows the turn's single picture."""
        self.synthesizer = synthesizer or engine.synthesizer
        self.settings = engine.settings
        self.client_reads_live = False
        """Whether the client (the page) reads text live itself, sending pictures as it goes: then 'read live'
        only says that live reading has begun."""
        self.conversation = Conversation(engine.system_prompt, engine.max_turns)
        self._last_answer = ""
        self._last_by_model = False
        """Whether the last answer was the model's: a question referring back to it is about what it named."""
        self._image_urls: dict[str, str] = {}
        self._last_reading: ReadAhead | None = None
        """The text read in the newest picture read: 'more detail' checks its answer against it."""
        self._say: Phrases = BOOKS[engine.options.language]
        """The phrase book of the last question: the language the next is likely in."""

    # -- entry points -------------------------------------------------------------------------------

    def answer_recording(
        self,
        clip: AudioClip,
        frame: Frame | None,
        camera_problem: AssistantError | None = None,
        timings_ms: dict[str, float] | None = None,
        released_at: float | None = None,
        control: TurnControl | None = None,
        preparing: Future[Prepared | None] | None = None,
        reading_ahead: Future[ReadAhead | None] | None = None,
    ) -> Turn:
        """A spoken question: transcribe it, then answer it as `answer_text` does. `preparing` is the picture
        being taken in since the press (see `prepare`), `reading_ahead` its text being read (see `read_ahead`);
        each is used when `frame` is that picture."""
        context = self._context(Turn(timings_ms=dict(timings_ms or {})), frame, camera_problem, released_at, control)
        context.preparing, context.reading_ahead = preparing, reading_ahead
        turn = context.turn
        try:
            started = time.monotonic()
            transcriber = self.engine.transcriber
            transcript = transcriber.transcribe(clip)
            turn.timings_ms["stt"] = ms_since(started)
            turn.transcript = transcript.text
            context.say = self._book_for(transcript.text, transcript.language)
            check_heard(clip, transcript, context.say)
            context.command = match_command(transcript.text)
            if context.command is None and isinstance(transcriber, ScoringTranscriber):
                started = time.monotonic()
                context.command = by_sound(transcript, partial(transcriber.score, clip, language=transcript.language))
                turn.timings_ms["command_by_sound"] = ms_since(started)
            if is_doubtful(transcript):
                context.heard_as = context.say.heard_as(transcript.text)
        except AssistantError as e:
            return self._fail(context, e)
        except Exception as e:
            return self._fail_unexpected(context, e)
        return self._answer(context)

    def answer_text(
        self,
        question: str,
        frame: Frame | None,
        camera_problem: AssistantError | None = None,
        control: TurnControl | None = None,
        preparing: Future[Prepared | None] | None = None,
    ) -> Turn:
        context = self._context(Turn(transcript=question.strip()), frame, camera_problem, None, control)
        context.preparing = preparing
        if not context.turn.transcript:
            return self._fail(context, EmptyQuestionError(context.say.empty_question))
        return self._answer(context)

    def read_live(self, frame: Frame | None, control: TurnControl | None = None) -> Turn:
        """Live text started by a key, as by saying "read live": until `control` is cancelled, a quiet while, or,
        without a live camera, once `frame` is read."""
        context = self._context(Turn(command="live_text"), frame, None, None, control)
        try:
            context.turn.answer = self._live_text(context)
        except AssistantError as e:
            return self._fail(context, e)
        except Exception as e:
            return self._fail_unexpected(context, e)
        self._log(context.turn)
        return context.turn

    def cue(self, name: str) -> None:
        """Play a state sound, if sounds are on; it does not wait for the sound to end."""
        sound = self.engine.cues(name) if self.sounds else None
        if sound is not None:
            try:
                self.sink.cue(sound)
            except AssistantError as e:
                _LOGGER.error("could not play the %s sound: %s", name, e.message)

    @property
    def book(self) -> Phrases:
        """The phrase book of the last question, or of the configured language before the first."""
        return self._say

    def speak(self, text: str, cancel: threading.Event | None = None) -> None:
        """Say something outside a turn; a failure to speak is logged, never raised."""
        try:
            self.sink.play(self.synthesizer.synthesize(text, self.settings.speech_rate), cancel)
        except AssistantError as e:
            _LOGGER.error("could not speak: %s", e.message)

    def prepare(
        self, frame: Frame, cancel: threading.Event | None = None, read: ReadAhead | None = None
    ) -> Prepared | None:
        """Take a picture in before its question: encode it at the first-look budget and evaluate it into the
        model's KV cache behind the conversation so far; with its text `read`, also what a general question
        about it would tell the model was already said. None when there is no model that can keep it, or the
        turn was cancelled first."""
        vlm, options = self.engine.vlm, self.engine.options
        if not isinstance(vlm, PreparingChat):
            return None
        model_frame = self.engine.sight.for_model(frame, options.budgets.first_look, vlm.pixels_per_token)
        said = _after_what_was_said(self._say, list(read.lead)) if read is not None and read.lead else ""
        preview = self.conversation.with_question(said, model_frame)
        with self.engine.model_lock:
            if cancel is not None and cancel.is_set():
                return None
            answer_room = choose_preset("", options.temperature, options.max_tokens).max_tokens
            start = preview.fit(self._image_part, vlm.count_tokens, options.n_ctx - answer_room)
            messages = preview.messages(self._image_part, start)
            cost = vlm.prefill(messages, cancel.is_set if cancel else None, said)
        if cost is None or (cancel is not None and cancel.is_set()):
            return None
        return Prepared(frame, model_frame, cost)

    def read_ahead(self, frame: Frame) -> ReadAhead | None:
        """Read a picture's text before its question is known, so that a question about it need not wait for
        OCR; and, for a general question about it, make what would be said before the model's answer, as
        `_question` would, and begin to synthesize it. The next question about this picture finds it. None when
        reading is off."""
        if self.engine.reader is None:
            return None
        reading = self.engine.reader.read(frame.image)
        say, checked = self._say, self.engine.sight.quality(frame.image)
        if self.engine.vlm is None or checked.too_dark:
            self._last_reading = ReadAhead(frame.sha256, reading)
            return self._last_reading
        new_view = self._new_view(frame)
        lead = _said_first(
            say, _framing(say, checked, reading, new_view), reading, new_view, self.engine.options.say_first
        )
        rate = self.settings.speech_rate
        spoken: Future[dict[str, list[AudioChunk]]] = Future()

        def synthesize() -> None:
            try:
                spoken.set_result({part: list(self.synthesizer.synthesize(part, rate)) for part in lead})
            except Exception as e:  # then it is synthesized when said
                spoken.set_exception(AssistantError(str(e)))

        threading.Thread(target=synthesize, name="say-first", daemon=True).start()
        self._last_reading = ReadAhead(frame.sha256, reading, tuple(lead), rate, spoken)
        return self._last_reading

    def choose(self, speech_rate: float | None = None, detail: Detail | None = None) -> None:
        """Change this session's settings; None keeps a setting as it is."""
        if speech_rate is not None:
            self.settings = dataclasses.replace(self.settings, speech_rate=speech_rate)
        if detail is not None:
            self.settings = dataclasses.replace(self.settings, detail=detail)

    # -- one turn -----------------------------------------------------------------------------------

    def _context(
        self,
        turn: Turn,
        frame: Frame | None,
        camera_problem: AssistantError | None,
        released_at: float | None,
        control: TurnControl | None,
    ) -> TurnContext:
        released_at = time.monotonic() if released_at is None else released_at
        say = self._book_for(turn.transcript)
        return TurnContext(turn, frame, camera_problem, released_at, control or TurnControl(), say)

    def _book_for(self, question: str, heard_in: str = "") -> Phrases:
        """The book of the question's language; with nothing in it to tell, of the language it was heard in, else
        of the last question."""
        if question.strip():
            return for_text(question)
        return BOOKS.get(heard_in) or self._say

    def _answer(self, context: TurnContext) -> Turn:
        turn = context.turn
        self._say = context.say
        self.notify("question", turn.transcript)
        turn.command = context.command or match_command(turn.transcript)
        try:
            if turn.command is not None:
                self._command(context)
            else:
                self._question(context)
        except AssistantError as e:
            self.conversation.discard_pending()
            return self._fail(context, e)
        except Exception as e:
            self.conversation.discard_pending()
            return self._fail_unexpected(context, e)
        self._log(turn)
        return turn

    def _no_vision_model(self, say: Phrases) -> AssistantError:
        return self.engine.vlm_problem or NoVisionModelError(say.no_vision_model, say.no_vision_model_fix)

    def _no_picture(self, context: TurnContext) -> AssistantError:
        return context.camera_problem or NoPictureError(context.say.no_picture)

    def _question(self, context: TurnContext) -> None:
        """Route the question (routing.ANSWERERS). Light, reading and documents are answered from the
        full-resolution picture without the model, and colour too when there is no model; with one, the model
        answers colour questions given the measured colour, and questions about text given the text read; without
        one, what is known for sure is said."""
        turn, frame, say, vlm = context.turn, context.frame, context.say, self.engine.vlm
        channel = route(turn.transcript, after_model=self._last_by_model)
        answerer = ANSWERERS[(channel, vlm is not None)]
        turn.route = channel.value
        sight = channel in _LOCAL_ROUTES or needs_sight(turn.transcript)
        if vlm is None and not sight:
            raise self._no_vision_model(say)
        if frame is None:
            if sight or vlm is None:
                raise self._no_picture(context)
            self._ask_vlm(vlm, context, None)
            return
        started = time.monotonic()
        checked = self.engine.sight.quality(frame.image)
        turn.timings_ms["quality"] = ms_since(started)
        if channel is Route.LIGHT:
            self._reply(context, frame, say.light(checked.luminance))
            return
        measured = ""
        if channel is Route.COLOUR:
            colour, dark = self.engine.sight.colour(frame.image), checked.luminance < VERY_DARK
            if answerer is Answerer.MEASURE:
                reply = say.colour(colour)
                self._reply(context, frame, say.colour_in_the_dark(reply) if dark else reply)
                return
            measured = say.measured_colour(colour, dark)
        turn.framing = say.framing(checked.too_dark, checked.too_bright, checked.blurred)
        if checked.too_dark:
            self._reply(context, frame, " ".join(turn.framing))
            return
        reading = None
        new_view = self._new_view(frame)
        if self.engine.reader is not None and answerer is not Answerer.MODEL_WITH_COLOUR:
            # A description is read too, so that its numbers and names can be checked against the text.
            reading = self._read(context, frame)
            turn.framing = _framing(say, checked, reading, edges=answerer is not Answerer.MODEL or new_view)
        if answerer is Answerer.OCR and reading is None and vlm is None:
            raise ReadingOffError(say.reading_off, say.reading_off_fix)
        if answerer is Answerer.OCR and reading is not None:
            self._reply(context, frame, self._read_out(context, reading, channel))
        elif vlm is None:
            self._reply(context, frame, self._facts(context, frame, reading, checked))
        else:
            if answerer is Answerer.MODEL_WITH_TEXT and reading is not None and not reading:
                turn.framing.append(say.no_text_hint)
            context.lead = list(turn.framing)
            if answerer is Answerer.MODEL:
                context.lead = _said_first(say, turn.framing, reading, new_view, self.engine.options.say_first)
            question = f"{turn.transcript} {say.answer_in}".strip()
            if answerer is Answerer.MODEL_WITH_TEXT and reading:
                question = f"{question}\n\n{say.text_in_picture}{reading.text}"
            if measured:
                question = f"{question}\n\n{measured}"
            if context.lead:
                question = _after_what_was_said(say, context.lead) + question
            if context.heard_as:
                context.lead.insert(0, context.heard_as)
            if context.lead:
                turn.instant = " ".join(context.lead)
            if reading is not None:
                context.check = AnswerCheck(reading.text, turn.transcript, say)
            self._ask_vlm(vlm, context, frame, question)

    def _new_view(self, frame: Frame) -> bool:
        """Whether the picture is not the one the conversation last saw, nor the same view."""
        last = self.conversation.newest_full_frame
        if last is None:
            return True
        return last.sha256 != frame.sha256 and self.engine.sight.view_change(last, frame) > NEW_VIEW

    def _read(self, context: TurnContext, frame: Frame) -> Reading:
        """OCR on the full-resolution frame, unless it was read already."""
        assert self.engine.reader is not None
        reading = self._read_before(context, frame)
        if reading is None:
            reading = self.engine.reader.read(frame.image)
            context.turn.timings_ms["ocr"] = reading.elapsed_ms
            self._last_reading = ReadAhead(frame.sha256, reading)
        context.turn.text_read = reading.text
        return reading

    def _read_before(self, context: TurnContext, frame: Frame) -> Reading | None:
        """The frame's text if it was read at the press, or by an earlier turn."""
        if context.reading_ahead is not None:
            started = time.monotonic()
            try:
                ahead = context.reading_ahead.result()
            except Exception as e:  # then it is read now
                _LOGGER.warning("the picture could not be read ahead: %r", e)
                ahead = None
            context.turn.timings_ms["ocr_wait"] = ms_since(started)
            if ahead is not None and ahead.frame_sha256 == frame.sha256:
                context.turn.timings_ms["ocr"] = ahead.reading.elapsed_ms
                self._last_reading = context.read_before = ahead
                return ahead.reading
        if self._last_reading is not None and self._last_reading.frame_sha256 == frame.sha256:
            context.read_before = self._last_reading
            return self._last_reading.reading
        return None

    def _read_out(self, context: TurnContext, reading: Reading, channel: Route) -> str:
        """The text verbatim, or the document's summary (its JSON goes on the turn), then any framing hint."""
        turn = context.turn
        if not reading:
            turn.framing.append(context.say.no_text_hint)
            return " ".join(turn.framing)
        if channel is Route.DOCUMENT:
            document = documents.extract(reading, turn.transcript)
            turn.document, turn.unreadable = document.data, document.unreadable
            body = documents.summary(document, context.say)
        else:
            body = reading.text
        return "\n".join([body, *turn.framing])

    def _facts(self, context: TurnContext, frame: Frame, reading: Reading | None, checked: Quality) -> str:
        """Without a model: the text, light, colour and faces, then that a full description needs the model."""
        say, sight = context.say, self.engine.sight
        started = time.monotonic()
        colour = sight.colour(frame.image)
        faces = sight.faces(frame.image)
        context.turn.timings_ms["perception"] = ms_since(started)
        parts = list(context.turn.framing)
        if reading:
            parts.append(say.can_read(reading.text))
        elif reading is not None:
            parts.append(say.no_text_seen)
        parts += [say.light(checked.luminance), say.colour(colour), say.faces(faces)]
        problem = self.engine.vlm_problem
        parts.append(problem.spoken() if problem is not None and say.language == "en" else say.needs_vision_model)
        return "\n".join(parts)

    def _reply(self, context: TurnContext, frame: Frame, text: str) -> None:
        """Answer without the model. The exchange joins the conversation, so the model can follow up on it."""
        turn = context.turn
        turn.answer = f"{context.heard_as} {text}".strip()
        self._last_answer = text
        self._last_by_model = False
        self.notify("sentence", turn.answer)
        self.conversation.add_user(turn.transcript, self.engine.sight.for_model(frame), frame)
        self._speak_reply(context, lines_for_speech(turn.answer))
        turn.interrupted = context.control.cancel.is_set()
        self.conversation.add_assistant(text, interrupted=turn.interrupted)

    def _light_mode(self, context: TurnContext) -> None:
        """A tone whose pitch follows the light, from the camera while it plays, until stopped."""
        camera, still, cancel = self.camera, context.frame, context.control.cancel
        sight, cues = self.engine.sight, self.engine.cues

        def grab() -> Frame:
            if camera is not None:
                return camera.grab()
            assert still is not None
            return still

        pieces = round((LIGHT_MODE_S if camera is not None else LIGHT_STILL_S) / LIGHT_PIECE_S)

        def tones() -> Iterator[AudioChunk]:
            phase = 0.0
            for _ in range(pieces):
                if cancel.is_set():
                    return
                tone, phase = cues.light_tone(sight.luminance(grab().image), LIGHT_PIECE_S, phase)
                yield tone

        self.sink.play(tones(), cancel)

    def _live_text(self, context: TurnContext) -> str:
        """Read the camera live until stopped, the view stays without new text for a while, or, with one still
        picture, once it is read; returns what was read and began to be spoken, one reading to a line."""
        say, reader = context.say, self.engine.reader
        if reader is None:
            raise ReadingOffError(say.reading_off, say.reading_off_fix)
        if self.client_reads_live:
            self._speak_reply(context, say.live_started)
            return say.live_started
        camera: FrameSource | None = self.camera
        if camera is None:
            if context.frame is None:
                raise self._no_picture(context)
            camera = StillCamera(context.frame)
        self._speak_reply(context, say.live_started)
        live = LiveReader(
            camera, reader, self.synthesizer, self.sink, say, self.settings.speech_rate, on_heard=self._heard_live
        )
        why = live.run(context.control.cancel)
        if why != "cancelled":
            self.speak(say.live_quiet if why == "quiet" else say.live_stopped, context.control.cancel)
        return "\n".join(heard.text for heard in live.heard if heard.t_spoken_ms is not None)

    def _heard_live(self, heard: Heard) -> None:
        self.notify("sentence", heard.text)
        if self.engine.turn_log is not None:
            self.engine.turn_log.write_record(heard.record())

    def _command(self, context: TurnContext) -> None:
        """Act on a local voice command and say what was done."""
        turn, say, name = context.turn, context.say, context.turn.command
        if name == "light":
            turn.answer = say.light_mode
            if self.camera is None and context.frame is None:
                raise self._no_picture(context)
            self._speak_reply(context, turn.answer)
            self._light_mode(context)
            return
        if name == "live_text":
            turn.answer = self._live_text(context)
            return
        if name == "more_detail":
            frame = self.conversation.newest_full_frame
            if self.engine.vlm is None:
                raise self._no_vision_model(say)
            if frame is None:
                raise NothingToDescribeError(say.nothing_to_describe)
            options = self.engine.options
            preset = choose_preset("", options.temperature, options.max_tokens, base=DESCRIBE)
            budget = options.budgets.detail
            if self._last_reading is not None and self._last_reading.frame_sha256 == frame.sha256:
                context.check = AnswerCheck(self._last_reading.reading.text, turn.transcript, say)
            self._ask_vlm(self.engine.vlm, context, frame, say.more_detail_question, preset, budget)
            return
        if name == "repeat":
            reply = self._last_answer or say.nothing_said_yet
        elif name == "stop":
            reply = say.stopped
        elif name in {"slower", "faster"}:
            reply = self._change_rate(say, faster=name == "faster")
        elif name == "brief":
            self.choose(detail="brief")
            reply = say.brief
        elif name == "new_conversation":
            self.conversation.reset()
            self._image_urls.clear()
            self._last_by_model = False
            reply = say.new_conversation
        elif name == "save_settings":
            if self.settings_path is None:
                raise NowhereToSaveError(say.nowhere_to_save)
            save_setting(self.settings_path, "tts", "speech_rate", self.settings.speech_rate)
            reply = say.saved_rate(self.settings.speech_rate)
        else:
            reply = say.help
        turn.answer = reply
        self._speak_reply(context, reply)

    def _change_rate(self, say: Phrases, faster: bool) -> str:
        """One step faster or slower, within SLOWEST..FASTEST, for this session."""
        current = self.settings.speech_rate
        rate = min(FASTEST, max(SLOWEST, round(current + (RATE_STEP if faster else -RATE_STEP), 2)))
        if rate == current:
            return say.fastest_already if faster else say.slowest_already
        self.choose(speech_rate=rate)
        return say.faster if faster else say.slower

    def _speak_reply(self, context: TurnContext, text: str) -> None:
        started = time.monotonic()
        chunks = self.synthesizer.synthesize(text, self.settings.speech_rate)
        first = next(chunks, None)
        context.turn.timings_ms["tts_first_chunk"] = ms_since(started)
        context.turn.timings_ms["first_audio"] = ms_since(context.released_at)
        if first is not None:
            context.control.audible.set()
            self.sink.play(itertools.chain([first], chunks), context.control.cancel)

    def _ask_vlm(
        self,
        vlm: VisionChat,
        context: TurnContext,
        frame: Frame | None,
        question: str | None = None,
        preset: Preset | None = None,
        budget: int | None = None,
    ) -> None:
        """Ask about `frame`: the user's words, or `question` in their place, with the preset they call for and
        the picture within the image budget the question needs."""
        turn, options = context.turn, self.engine.options
        cap = options.max_tokens
        if self.settings.detail == "brief":
            cap = min(cap or BRIEF_MAX_TOKENS, BRIEF_MAX_TOKENS)
        preset = preset or choose_preset(turn.transcript, options.temperature, cap)
        turn.preset = preset.name
        _LOGGER.info("preset %s for %r", preset.name, turn.transcript)
        full = taken = frame
        if frame is not None:
            budget = budget or options.budgets.for_question(turn.route, turn.transcript)
            pixels = vlm.pixels_per_token if isinstance(vlm, PreparingChat) else 32
            frame = self.engine.sight.for_model(frame, budget, pixels)
            turn.image_sha256 = frame.sha256
            turn.image_size = list(frame.size)
        self.conversation.add_user(question or turn.transcript, frame, full)
        self._forget_unused_images()
        self._stream_answer(context, self._model_tokens(vlm, context, preset, taken, frame))

    def _model_tokens(
        self, vlm: VisionChat, context: TurnContext, preset: Preset, taken: Frame | None, given: Frame | None
    ) -> Iterator[str]:
        """The model's answer, token by token, once the picture taken in since the press is ready and the model is
        free. The speech stream pulls it in a thread of its own, so what is said first plays in the meantime."""
        turn, options = context.turn, self.engine.options
        prepared = self._await_prepared(context)
        if prepared is not None and taken is not None and given is not None:
            turn.prepared = prepared.frame.sha256 == taken.sha256 and prepared.model_frame.sha256 == given.sha256
            turn.timings_ms["prepare_image_encode"] = prepared.cost.image_encode_ms
            turn.timings_ms["prepare_prefill"] = prepared.cost.prefill_ms
        with self.engine.model_lock:
            start = self.conversation.fit(self._image_part, vlm.count_tokens, options.n_ctx - preset.max_tokens)
            messages = self.conversation.messages(self._image_part, start)
            turn.messages = self.conversation.messages(_image_placeholder, start)
            asked = time.monotonic()
            try:
                for piece in vlm.stream(messages, preset):
                    turn.timings_ms.setdefault("vlm_first_token", ms_since(asked))
                    yield piece
            finally:
                if isinstance(vlm, PreparingChat):
                    cost = vlm.cost
                    turn.image_tokens = cost.image_tokens if turn.image_sha256 else None
                    turn.timings_ms["image_encode"] = cost.image_encode_ms
                    turn.timings_ms["prefill"] = cost.prefill_ms

    def _await_prepared(self, context: TurnContext) -> Prepared | None:
        """The picture taken in since the press, once its work is done: the model does one thing at a time."""
        if context.preparing is None:
            return None
        started = time.monotonic()
        try:
            prepared = context.preparing.result()
        except Exception as e:  # then the picture is taken in now, as if nothing had been prepared
            _LOGGER.warning("the picture could not be prepared: %r", e)
            prepared = None
        context.turn.timings_ms["prepare_wait"] = ms_since(started)
        return prepared

    def _stream_answer(self, context: TurnContext, tokens: Iterator[str]) -> None:
        turn, control, options = context.turn, context.control, self.engine.options
        speech = SpeechStream if options.streaming else SequentialSpeech
        ahead = context.read_before
        ready = ahead.speech_for(context.lead, self.settings.speech_rate) if ahead is not None else {}
        spoken = speech(
            tokens,
            _SaidAhead(self.synthesizer, ready, self.settings.speech_rate) if ready else self.synthesizer,
            self.sink,
            control.cancel,
            turn.timings_ms,
            context.released_at,
            speech_rate=self.settings.speech_rate,
            on_sentence=lambda sentence: self.notify("sentence", sentence),
            on_first_audio=control.audible.set,
            lead=context.lead,
            revise=context.check,
        ).run()
        if context.check is not None:
            turn.unverified = context.check.unverified
        turn.interrupted = control.cancel.is_set()
        turn.answer = " ".join(spoken.heard)
        if not spoken.audible and not turn.interrupted:
            raise NoAnswerError(context.say.no_answer)
        self._last_answer = " ".join(spoken.sentences)
        self._last_by_model = True
        # A whole answer goes back into the history as the model wrote it, so that the next prompt starts with the
        # very tokens its KV cache holds and is not read again; an interrupted or revised one, as it was heard.
        heard_all = not turn.interrupted and spoken.generated and spoken.heard == spoken.sentences
        by_model = " ".join(spoken.heard[len(context.lead) :])
        history = spoken.generated if heard_all and not spoken.revised else by_model
        self.conversation.add_assistant(history, interrupted=turn.interrupted)

    # -- helpers ------------------------------------------------------------------------------------

    def _image_part(self, frame: Frame) -> dict[str, Any]:
        url = self._image_urls.get(frame.sha256)
        if url is None:
            url = self._image_urls[frame.sha256] = self.engine.sight.data_url(frame)
        return {"type": "image_url", "image_url": {"url": url}}

    def _forget_unused_images(self) -> None:
        newest = self.conversation.newest_frame
        keep = {newest.sha256} if newest is not None else set()
        for sha in set(self._image_urls) - keep:
            del self._image_urls[sha]

    def _fail(self, context: TurnContext, error: AssistantError) -> Turn:
        """Say what went wrong, after the error sound, and log the turn."""
        turn = context.turn
        turn.error = context.say.explain(error)
        turn.error_code = error.code
        self.notify("error", turn.error)
        turn.timings_ms.setdefault("first_audio", ms_since(context.released_at))
        context.control.audible.set()
        self.cue("error")
        self.speak(turn.error, context.control.cancel)
        self._log(turn)
        return turn

    def _fail_unexpected(self, context: TurnContext, error: Exception) -> Turn:
        _LOGGER.error("unexpected error in a turn: %r", error, exc_info=_LOGGER.isEnabledFor(logging.DEBUG))
        return self._fail(context, AssistantError(context.say.unexpected))

    def _log(self, turn: Turn) -> None:
        if self.engine.turn_log is not None:
            self.engine.turn_log.write(turn)


class _SaidAhead:
    """The session's voice, with the parts said first already synthesized at the press."""

    def __init__(self, voice: Synthesizer, ready: dict[str, list[AudioChunk]], speech_rate: float) -> None:
        self.voice = voice
        self.ready = ready
        self.speech_rate = speech_rate

    @property
    def sample_rate(self) -> int:
        return self.voice.sample_rate

    def synthesize(self, text: str, speech_rate: float = 1.0) -> Iterator[AudioChunk]:
        chunks = self.ready.get(text) if speech_rate == self.speech_rate else None
        return iter(chunks) if chunks is not None else self.voice.synthesize(text, speech_rate)


def _framing(say: Phrases, checked: Quality, reading: Reading, edges: bool) -> list[str]:
    """What is wrong with the picture: its light and sharpness, and with `edges`, text cut off at an edge. A white
    page, or faint print, that reads well needs no warning."""
    hints = say.framing(checked.too_dark, checked.too_bright, checked.blurred)
    edge = say.edge_hint(edges_touched(reading)) if edges else ""
    if edge:
        hints.append(edge)
    if reading.reads_well:
        hints = [hint for hint in hints if hint not in (say.washed_out, say.blurred)]
    return hints


def _said_first(
    say: Phrases, framing: list[str], reading: Reading | None, new_view: bool, say_first: bool
) -> list[str]:
    """Said before the model's answer to a general question: what is wrong with the picture, then, about a new
    view, the start of the text in it."""
    lead = list(framing)
    if reading and new_view and say_first:
        lead.append(say.there_is_text(*_opening(reading.text, SAY_FIRST_WORDS)))
    return lead


def _after_what_was_said(say: Phrases, lead: list[str]) -> str:
    """The start of the model's question when something was said first; it goes before the question, so that it
    can be evaluated at the press, with the picture."""
    return f"{say.already_said(' '.join(lead))}\n\n"


def _opening(text: str, words: int) -> tuple[str, bool]:
    """The first `words` words of a text read, its lines parted by commas, and whether there is more; Chinese is
    counted two characters to a word."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    flat = ", ".join(lines)
    if is_chinese(flat):
        cut = flat[: 2 * words]
        return cut, len(cut) < len(flat)
    tokens = flat.split()
    return " ".join(tokens[:words]).rstrip(","), len(tokens) > words


def _image_placeholder(frame: Frame) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"<image {frame.sha256}>"}}
