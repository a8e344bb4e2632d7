"""One turn over the interfaces: question in, spoken answer out. No device or model library is imported here."""

from __future__ import annotations

import copy
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant import documents, perception
from assistant.camera import frame_data_url, prepare_frame
from assistant.clock import ms_since
from assistant.commands import HELP
from assistant.commands import match as match_command
from assistant.config import save_setting
from assistant.earcons import SAMPLE_RATE, Earcons, steady_tone
from assistant.errors import AssistantError, BadInputError
from assistant.interfaces import AudioSink, FrameSource, Synthesizer, Transcriber, VisionChat
from assistant.memory import Conversation
from assistant.ocr import Reading, TextReader, edges_touched
from assistant.pipeline import SequentialSpeech, SpeechStream
from assistant.presets import DESCRIBE, Preset, choose_preset
from assistant.routing import Route, is_chinese, route
from assistant.stt import check_heard
from assistant.turnlog import TurnLog
from assistant.types import AudioChunk, AudioClip, Frame, Turn

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
OCR_CONTEXT = "Text found in the image, exact: "
"""Put after the question when the picture has text, so the model answers from it rather than retyping pixels."""
NEEDS_VLM = (
    "A full description needs the vision model, which is not installed: run 'assistant models pull' when online."
)
NEEDS_VLM_ZH = "要完整描述画面，需要安装视觉模型。"
LIGHT_MODE = "Light mode: the higher the tone, the brighter the light. Press the key again to stop."
LIGHT_MODE_ZH = "光线模式：音调越高，光线越亮。再按一次键停止。"
LIGHT_PIECE_S = 0.1
LIGHT_MODE_S = 60.0
"""Light mode stops by itself after this long with a live camera."""
LIGHT_STILL_S = 2.0
"""With one still picture there is nothing to follow: the tone plays this long."""
VERY_DARK = 0.04
"""Below this mean brightness a colour is named with a warning that it may be wrong."""
_LOCAL_ROUTES = {Route.READ, Route.DOCUMENT, Route.LIGHT, Route.COLOUR}
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
    quality: perception.QualityLimits = field(default_factory=perception.QualityLimits)
    """When a picture is too dark, too bright or blurred to be worth asking about."""


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
        reader: TextReader | None = None,
        camera: FrameSource | None = None,
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
        self.reader = reader
        """Reads text in pictures; None turns reading off."""
        self.camera = camera
        """Live pictures for light mode; without one, light mode follows the turn's single picture."""
        self.faces = perception.FaceCounter()
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
                self._command(turn, frame, camera_problem, released_at, control)
            else:
                self._question(turn, frame, camera_problem, released_at, control)
        except AssistantError as e:
            self.conversation.discard_pending()
            return self._fail(turn, e, released_at, control)
        except Exception as e:
            self.conversation.discard_pending()
            return self._fail_unexpected(turn, e, released_at, control)
        self._log(turn)
        return turn

    def _question(
        self,
        turn: Turn,
        frame: Frame | None,
        camera_problem: AssistantError | None,
        released_at: float,
        control: TurnControl,
    ) -> None:
        """Route the question. Light, colour, reading and documents are answered from the full-resolution picture
        without the model; the model answers the rest, given the text in the picture when the question is about
        text; without a model, what is known for sure is said."""
        channel = route(turn.transcript)
        turn.route = channel.value
        sight = channel in _LOCAL_ROUTES or needs_sight(turn.transcript)
        if self.vlm is None and not sight:
            raise self.vlm_problem or AssistantError(NO_VLM_MESSAGE)
        if frame is None:
            if sight or self.vlm is None:
                raise camera_problem or AssistantError("I can't see: there is no picture from the camera.")
            self._ask_vlm(self.vlm, turn, None, released_at, control)
            return
        chinese = is_chinese(turn.transcript)
        started = time.monotonic()
        checked = perception.quality(frame.image, self.options.quality)
        turn.timings_ms["quality"] = ms_since(started)
        if channel is Route.LIGHT:
            self._reply(turn, frame, perception.light_sentence(checked.luminance, chinese), released_at, control)
            return
        if channel is Route.COLOUR:
            colour = perception.dominant_colour(frame.image)
            reply = perception.colour_sentence(colour, chinese)
            if checked.luminance < VERY_DARK:
                reply = "太暗了，颜色可能不准。" + reply if chinese else f"It is very dark, so I may be wrong. {reply}"
            self._reply(turn, frame, reply, released_at, control)
            return
        turn.framing = perception.framing_hints(checked, chinese)
        if checked.too_dark:
            self._reply(turn, frame, " ".join(turn.framing), released_at, control)
            return
        reading = None
        if self.reader is not None and (channel is not Route.SCENE or self.vlm is None):
            reading = self._read(turn, frame, chinese)
        text_only = channel is Route.READ or channel is Route.DOCUMENT
        if text_only and reading is None and self.vlm is None:
            raise AssistantError("I can't read text: reading is turned off.", "Set ocr.enabled to true.")
        if text_only and reading is not None:
            self._reply(turn, frame, self._read_out(turn, reading, channel, chinese), released_at, control)
        elif self.vlm is None:
            self._reply(turn, frame, self._facts(turn, frame, reading, checked, chinese), released_at, control)
        else:
            if channel is Route.TEXT and reading is not None and not reading:
                turn.framing.append(perception.no_text_hint(chinese))
            if turn.framing:
                self._speak_reply(" ".join(turn.framing), turn, released_at, control)
            question = turn.transcript
            if reading:
                question = f"{question}\n\n{OCR_CONTEXT}{reading.text}"
            self._ask_vlm(self.vlm, turn, frame, released_at, control, question)

    def _read(self, turn: Turn, frame: Frame, chinese: bool) -> Reading:
        """OCR on the full-resolution frame; text cut off at an edge adds a hint of which way to move."""
        assert self.reader is not None
        reading = self.reader.read(frame.image)
        turn.timings_ms["ocr"] = reading.elapsed_ms
        turn.text_read = reading.text
        hint = perception.edge_hint(edges_touched(reading), chinese)
        if hint:
            turn.framing.append(hint)
        return reading

    def _read_out(self, turn: Turn, reading: Reading, channel: Route, chinese: bool) -> str:
        """The text verbatim, or the document's summary (its JSON goes on the turn), then any framing hint."""
        if not reading:
            turn.framing.append(perception.no_text_hint(chinese))
            return " ".join(turn.framing)
        if channel is Route.DOCUMENT:
            document = documents.extract(reading, turn.transcript)
            turn.document = document.data
            body = documents.summary(document, chinese)
        else:
            body = reading.text
        return "\n".join([body, *turn.framing])

    def _facts(
        self, turn: Turn, frame: Frame, reading: Reading | None, checked: perception.Quality, chinese: bool
    ) -> str:
        """Without a model: the text, light, colour and faces, then that a full description needs the model."""
        started = time.monotonic()
        colour = perception.dominant_colour(frame.image)
        faces = self.faces.count(frame.image)
        turn.timings_ms["perception"] = ms_since(started)
        parts = list(turn.framing)
        if reading:
            parts.append(("我读到的文字：" if chinese else "I can read: ") + reading.text)
        elif reading is not None:
            parts.append("我没有看到文字。" if chinese else "I see no text.")
        parts += [
            perception.light_sentence(checked.luminance, chinese),
            perception.colour_sentence(colour, chinese),
            perception.faces_sentence(faces, chinese),
        ]
        if chinese:
            parts.append(NEEDS_VLM_ZH)
        else:
            parts.append(self.vlm_problem.spoken() if self.vlm_problem is not None else NEEDS_VLM)
        return "\n".join(parts)

    def _reply(self, turn: Turn, frame: Frame, text: str, released_at: float, control: TurnControl) -> None:
        """Answer without the model. The exchange joins the conversation, so the model can follow up on it."""
        turn.answer = text
        self._last_answer = text
        self.notify("sentence", text)
        self.conversation.add_user(turn.transcript, prepare_frame(frame, self.options.max_short_side))
        self._speak_reply(_for_speech(text), turn, released_at, control)
        turn.interrupted = control.cancel.is_set()
        self.conversation.add_assistant(text, interrupted=turn.interrupted)

    def _light_mode(self, still: Frame | None, control: TurnControl) -> None:
        """A tone whose pitch follows the light, from the camera while it plays, until stopped."""
        camera = self.camera

        def grab() -> Frame:
            if camera is not None:
                return camera.grab()
            assert still is not None
            return still

        pieces = round((LIGHT_MODE_S if camera is not None else LIGHT_STILL_S) / LIGHT_PIECE_S)
        level = self.earcons.volume if self.earcons.volume > 0 else 0.3

        def tones() -> Iterator[AudioChunk]:
            phase = 0.0
            for _ in range(pieces):
                if control.cancel.is_set():
                    return
                pitch = perception.light_pitch(perception.luminance(grab().image))
                samples, phase = steady_tone(pitch, LIGHT_PIECE_S, level, phase)
                yield AudioChunk(samples, SAMPLE_RATE, text=f"light {pitch:.0f} Hz", kind="cue")

        self.sink.play(tones(), control.cancel)

    def _command(
        self,
        turn: Turn,
        frame: Frame | None,
        camera_problem: AssistantError | None,
        released_at: float,
        control: TurnControl,
    ) -> None:
        """Act on a local voice command and say what was done."""
        name = turn.command
        if name == "light":
            turn.answer = LIGHT_MODE_ZH if is_chinese(turn.transcript) else LIGHT_MODE
            if self.camera is None and frame is None:
                raise camera_problem or AssistantError("I can't see: there is no picture from the camera.")
            self._speak_reply(turn.answer, turn, released_at, control)
            self._light_mode(frame, control)
            return
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


def _for_speech(text: str) -> str:
    """Each line ends in a pause when spoken, as a sign's lines would be read; the words stay as written."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(
        line if line[-1] in ".!?。！？:：" else line + ("。" if is_chinese(line) else ".") for line in lines
    )


def _image_placeholder(frame: Frame) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"<image {frame.sha256}>"}}
