"""One turn over the interfaces: question in, spoken answer out. No device or model library is imported here."""

from __future__ import annotations

import copy
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.camera import frame_data_url, prepare_frame
from assistant.clock import ms_since
from assistant.commands import HELP
from assistant.commands import match as match_command
from assistant.config import save_setting
from assistant.earcons import Earcons
from assistant.errors import AssistantError, BadInputError
from assistant.interfaces import AudioSink, Synthesizer, Transcriber, VisionChat
from assistant.memory import Conversation
from assistant.pipeline import SequentialSpeech, SpeechStream
from assistant.presets import DESCRIBE, Preset, choose_preset
from assistant.stt import check_heard
from assistant.turnlog import TurnLog
from assistant.types import AudioClip, Frame, Turn

_LOGGER = logging.getLogger(__name__)

NO_VLM_MESSAGE = (
    "I can't answer about what is around you yet: no vision model is installed. "
    "When you are online, run 'assistant models pull', or place a model and its mmproj file in the models folder."
)
NO_ANSWER_MESSAGE = "I have no answer for that. Please ask again."
UNEXPECTED_MESSAGE = "Sorry, something went wrong inside the assistant. Please try again."
RATE_STEP, SLOWEST, FASTEST = 0.25, 0.5, 2.5
BRIEF_MAX_TOKENS = 48
MORE_DETAIL_QUESTION = "Describe it again, in more detail."
_SIGHT = re.compile(
    r"\b(see|look|looks|looking|front|read|say|says|written|label|sign|colou?r|wearing|this|that|these|those|"
    r"here|there|holding|hand|picture|photo|image|camera|scene|room|left|right|describe|blue|red|green|"
    r"which one|what is it|what's it)\b"
)
_SIGHT_ZH = ("看", "读", "前面", "颜色", "这是", "这个", "那个", "写")


def needs_sight(question: str) -> bool:
    return bool(_SIGHT.search(question.lower())) or any(word in question for word in _SIGHT_ZH)


@dataclass
class TurnControl:
    """What the loop and a turn share while the answer plays."""

    cancel: threading.Event = field(default_factory=threading.Event)
    """Set by the loop to interrupt: generation, synthesis and playback stop."""
    audible: threading.Event = field(default_factory=threading.Event)
    """Set by the turn once it has started to make a sound, so the loop stops its waiting ticks."""


@dataclass(frozen=True)
class AnswerOptions:
    n_ctx: int = 4096
    """The model's context; history is trimmed to fit it, with room for the answer."""
    max_short_side: int = 768
    """Pictures are downscaled to this many pixels on their short side before they go to the model."""
    temperature: float = -1.0
    """Overrides every preset's temperature when 0 or more."""
    max_tokens: int = 0
    """Caps every answer's length in tokens when above 0."""
    streaming: bool = True
    """Speak each sentence as it comes; False speaks only once the whole answer is written (for comparison)."""


Notify = Callable[[str, str], None]
"""notify(kind, text): kind is 'question', 'sentence', 'error' or 'status'."""


def _ignore(kind: str, text: str) -> None:
    pass


class Assistant:
    def __init__(
        self,
        transcriber: Transcriber,
        synthesizer: Synthesizer,
        sink: AudioSink,
        vlm: VisionChat | None = None,
        conversation: Conversation | None = None,
        turn_log: TurnLog | None = None,
        options: AnswerOptions | None = None,
        notify: Notify = _ignore,
        vlm_problem: AssistantError | None = None,
        settings_path: Path | None = None,
        earcons: Earcons | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.synthesizer = synthesizer
        self.sink = sink
        self.vlm = vlm
        self.conversation = conversation or Conversation()
        self.turn_log = turn_log
        self.options = options or AnswerOptions()
        self.notify = notify
        self.vlm_problem = vlm_problem
        """Why there is no VLM, when one was configured but failed to load."""
        self.settings_path = settings_path
        """The config file that 'save settings' writes the speech rate to."""
        self.earcons = earcons or Earcons(enabled=False)
        self.brief = False
        self._last_answer = ""
        self._image_urls: dict[str, str] = {}

    def another(self, sink: AudioSink, synthesizer: Synthesizer | None = None) -> Assistant:
        """Another conversation over the same loaded models, with its own memory and sink."""
        other = copy.copy(self)
        other.sink = sink
        other.synthesizer = synthesizer or self.synthesizer
        other.conversation = Conversation(self.conversation.system_prompt, self.conversation.max_turns)
        other.notify = _ignore
        other.settings_path = None
        other.earcons = Earcons(enabled=False)
        other.brief = False
        other._last_answer = ""
        other._image_urls = {}
        return other

    # -- entry points -------------------------------------------------------------------------------

    def answer_recording(
        self,
        clip: AudioClip,
        frame: Frame | None,
        camera_problem: AssistantError | None = None,
        timings_ms: dict[str, float] | None = None,
        released_at: float | None = None,
        control: TurnControl | None = None,
    ) -> Turn:
        """A spoken question: transcribe it, then answer it as `answer_text` does."""
        released_at = time.monotonic() if released_at is None else released_at
        control = control or TurnControl()
        turn = Turn(timings_ms=dict(timings_ms or {}))
        try:
            started = time.monotonic()
            transcript = self.transcriber.transcribe(clip)
            turn.timings_ms["stt"] = ms_since(started)
            turn.transcript = transcript.text
            check_heard(clip, transcript)
        except AssistantError as e:
            return self._fail(turn, e, released_at, control)
        except Exception as e:
            return self._fail_unexpected(turn, e, released_at, control)
        return self._answer(turn, frame, camera_problem, released_at, control)

    def answer_text(
        self,
        question: str,
        frame: Frame | None,
        camera_problem: AssistantError | None = None,
        control: TurnControl | None = None,
    ) -> Turn:
        control = control or TurnControl()
        turn = Turn(transcript=question.strip())
        if not turn.transcript:
            empty = BadInputError("The question is empty. Please ask something.")
            return self._fail(turn, empty, time.monotonic(), control)
        return self._answer(turn, frame, camera_problem, time.monotonic(), control)

    def cue(self, name: str) -> None:
        """Play an earcon, if earcons are on; it does not wait for the sound to end."""
        sound = self.earcons(name)
        if sound is not None:
            try:
                self.sink.cue(sound)
            except AssistantError as e:
                _LOGGER.error("could not play the %s sound: %s", name, e.message)

    def speak(self, text: str, cancel: threading.Event | None = None) -> None:
        """Say something outside a turn; a failure to speak is logged, never raised."""
        try:
            self.sink.play(self.synthesizer.synthesize(text), cancel)
        except AssistantError as e:
            _LOGGER.error("could not speak: %s", e.message)

    # -- one turn -----------------------------------------------------------------------------------

    def _answer(
        self,
        turn: Turn,
        frame: Frame | None,
        camera_problem: AssistantError | None,
        released_at: float,
        control: TurnControl,
    ) -> Turn:
        self.notify("question", turn.transcript)
        turn.command = match_command(turn.transcript)
        try:
            if turn.command is not None:
                self._command(turn, released_at, control)
            elif self.vlm is None:
                raise self.vlm_problem or AssistantError(NO_VLM_MESSAGE)
            elif frame is None and needs_sight(turn.transcript):
                raise camera_problem or AssistantError("I can't see: there is no picture from the camera.")
            else:
                self._ask_vlm(self.vlm, turn, frame, released_at, control)
        except AssistantError as e:
            self.conversation.discard_pending()
            return self._fail(turn, e, released_at, control)
        except Exception as e:
            self.conversation.discard_pending()
            return self._fail_unexpected(turn, e, released_at, control)
        self._log(turn)
        return turn

    def _command(self, turn: Turn, released_at: float, control: TurnControl) -> None:
        """Act on a local voice command and say what was done."""
        name = turn.command
        if name == "more_detail":
            frame = self.conversation.newest_frame
            if self.vlm is None:
                raise self.vlm_problem or AssistantError(NO_VLM_MESSAGE)
            if frame is None:
                raise AssistantError("There is no picture to describe yet. Ask me about something first.")
            preset = choose_preset("", self.options.temperature, self.options.max_tokens, base=DESCRIBE)
            self._ask_vlm(self.vlm, turn, frame, released_at, control, MORE_DETAIL_QUESTION, preset)
            return
        if name == "repeat":
            reply = self._last_answer or "I haven't said anything yet."
        elif name == "stop":
            reply = "Stopped."
        elif name in {"slower", "faster"}:
            reply = self._change_rate(faster=name == "faster")
        elif name == "brief":
            self.brief = True
            reply = "I will keep my answers short."
        elif name == "new_conversation":
            self.conversation.reset()
            self._image_urls.clear()
            reply = "Starting a new conversation. I have forgotten what we said."
        elif name == "save_settings":
            if self.settings_path is None:
                raise AssistantError("I have nowhere to save settings.")
            rate = self.synthesizer.speech_rate
            save_setting(self.settings_path, "tts", "speech_rate", rate)
            reply = f"Saved. From now on I will speak at {rate:g} times my usual speed."
        else:
            reply = HELP
        turn.answer = reply
        self._speak_reply(reply, turn, released_at, control)

    def _change_rate(self, faster: bool) -> str:
        """One step faster or slower, within SLOWEST..FASTEST, for this session."""
        current = self.synthesizer.speech_rate
        rate = min(FASTEST, max(SLOWEST, round(current + (RATE_STEP if faster else -RATE_STEP), 2)))
        if rate == current:
            return "This is already my fastest." if faster else "This is already my slowest."
        self.synthesizer.speech_rate = rate
        return "Faster." if faster else "Slower."

    def _speak_reply(self, text: str, turn: Turn, released_at: float, control: TurnControl) -> None:
        started = time.monotonic()
        chunks = self.synthesizer.synthesize(text)
        first = next(chunks, None)
        turn.timings_ms["tts_first_chunk"] = ms_since(started)
        turn.timings_ms["first_audio"] = ms_since(released_at)
        if first is not None:
            control.audible.set()
            self.sink.play(itertools.chain([first], chunks), control.cancel)

    def _ask_vlm(
        self,
        vlm: VisionChat,
        turn: Turn,
        frame: Frame | None,
        released_at: float,
        control: TurnControl,
        question: str | None = None,
        preset: Preset | None = None,
    ) -> None:
        """Ask about `frame`: the user's words, or `question` in their place, with the preset they call for."""
        cap = self.options.max_tokens
        if self.brief:
            cap = min(cap or BRIEF_MAX_TOKENS, BRIEF_MAX_TOKENS)
        preset = preset or choose_preset(turn.transcript, self.options.temperature, cap)
        turn.preset = preset.name
        _LOGGER.info("preset %s for %r", preset.name, turn.transcript)
        if frame is not None:
            frame = prepare_frame(frame, self.options.max_short_side)
            turn.image_sha256 = frame.sha256
            turn.image_size = list(frame.size)
        self.conversation.add_user(question or turn.transcript, frame)
        self._forget_unused_images()
        start = self.conversation.fit(self._image_part, vlm.count_tokens, self.options.n_ctx - preset.max_tokens)
        messages = self.conversation.messages(self._image_part, start)
        turn.messages = self.conversation.messages(_image_placeholder, start)

        speech = SpeechStream if self.options.streaming else SequentialSpeech
        spoken = speech(
            vlm.stream(messages, preset),
            self.synthesizer,
            self.sink,
            control.cancel,
            turn.timings_ms,
            released_at,
            on_sentence=lambda sentence: self.notify("sentence", sentence),
            on_first_audio=control.audible.set,
        ).run()
        turn.interrupted = control.cancel.is_set()
        turn.answer = " ".join(spoken.heard)
        if not spoken.audible and not turn.interrupted:
            raise AssistantError(NO_ANSWER_MESSAGE)
        self._last_answer = " ".join(spoken.sentences)
        self.conversation.add_assistant(turn.answer, interrupted=turn.interrupted)

    # -- helpers ------------------------------------------------------------------------------------

    def _image_part(self, frame: Frame) -> dict[str, Any]:
        url = self._image_urls.get(frame.sha256)
        if url is None:
            url = self._image_urls[frame.sha256] = frame_data_url(frame)
        return {"type": "image_url", "image_url": {"url": url}}

    def _forget_unused_images(self) -> None:
        newest = self.conversation.newest_frame
        keep = {newest.sha256} if newest is not None else set()
        for sha in set(self._image_urls) - keep:
            del self._image_urls[sha]

    def _fail(self, turn: Turn, error: AssistantError, released_at: float, control: TurnControl) -> Turn:
        """Say what went wrong, after the error sound, and log the turn."""
        turn.error = error.spoken()
        self.notify("error", turn.error)
        turn.timings_ms.setdefault("first_audio", ms_since(released_at))
        control.audible.set()
        self.cue("error")
        self.speak(turn.error, control.cancel)
        self._log(turn)
        return turn

    def _fail_unexpected(self, turn: Turn, error: Exception, released_at: float, control: TurnControl) -> Turn:
        _LOGGER.error("unexpected error in a turn: %r", error, exc_info=_LOGGER.isEnabledFor(logging.DEBUG))
        return self._fail(turn, AssistantError(UNEXPECTED_MESSAGE), released_at, control)

    def _log(self, turn: Turn) -> None:
        if self.turn_log is not None:
            self.turn_log.write(turn)


def _image_placeholder(frame: Frame) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"<image {frame.sha256}>"}}
