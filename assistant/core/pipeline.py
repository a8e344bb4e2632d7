"""Streamed speech: the model's tokens become sentences, sentences become audio, audio goes to the sink.

Generation and synthesis each run in a thread of their own, joined by small bounded queues, so the first
sentence plays while the model is still writing the rest. Cancelling stops all three stages: generation
between tokens, synthesis between sentences and chunks, and the sink between blocks of audio.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.core.clock import ms_since
from assistant.core.interfaces import AudioSink, Synthesizer
from assistant.core.speech import sentences
from assistant.core.types import AudioChunk

_LOGGER = logging.getLogger(__name__)

_DONE = object()
_POLL_S = 0.02


@dataclass
class Spoken:
    """What one streamed answer produced, and what of it the user heard."""

    sentences: list[str] = field(default_factory=list)
    """Every sentence the model finished, in order."""
    heard: list[str] = field(default_factory=list)
    """The sentences played in full."""
    audible: bool = False
    """Whether any speech reached the sink."""
    generated: str = ""
    """The model's text exactly as it came, when it came to its end; "" when it was cut short."""
    revised: bool = False
    """Whether a sentence was changed before it was spoken (see SpeechStream's `revise`)."""


def _put(channel: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put, waiting while the queue is full; False if stopped first."""
    while not stop.is_set():
        try:
            channel.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _get(channel: queue.Queue[Any], stop: threading.Event) -> Any:
    """Get, waiting while the queue is empty; _DONE if stopped first."""
    while not stop.is_set():
        try:
            return channel.get(timeout=_POLL_S)
        except queue.Empty:
            continue
    return _DONE


class SpeechStream:
    """One answer's pipeline. `run()` starts the threads, plays on the sink, and returns once all have ended."""

    def __init__(
        self,
        tokens: Iterator[str],
        synthesizer: Synthesizer,
        sink: AudioSink,
        cancel: threading.Event,
        timings_ms: dict[str, float],
        released_at: float,
        speech_rate: float = 1.0,
        on_sentence: Callable[[str], None] = lambda sentence: None,
        on_first_audio: Callable[[], None] = lambda: None,
        lead: Sequence[str] = (),
        revise: Callable[[str], str] | None = None,
    ) -> None:
        """lead: sentences spoken first, while the model starts; they are not the model's. revise: each of the
        model's sentences passes through it before it is spoken; an empty result is not spoken."""
        self.tokens = tokens
        self.synthesizer = synthesizer
        self.sink = sink
        self.cancel = cancel
        self.timings = timings_ms
        self.released_at = released_at
        self.speech_rate = speech_rate
        self.on_sentence = on_sentence
        self.on_first_audio = on_first_audio
        self.lead = list(lead)
        self.revise = revise
        self._stop = threading.Event()
        self._sentences: queue.Queue[Any] = queue.Queue(maxsize=4)
        self._audio: queue.Queue[Any] = queue.Queue(maxsize=8)
        self._errors: list[BaseException] = []
        self._spoken = Spoken()
        self._yielded: list[int] = []
        """For each chunk handed to the sink: its sentence's index."""

    def run(self) -> Spoken:
        workers = [
            threading.Thread(target=self._generate, name="generate", daemon=True),
            threading.Thread(target=self._synthesize, name="synthesize", daemon=True),
        ]
        for worker in workers:
            worker.start()
        try:
            played = self.sink.play(self._chunks(), self.cancel)
        finally:
            self._stop.set()
            for worker in workers:
                worker.join()
        if self._errors:
            raise self._errors[0]
        self._spoken.heard = self._heard(played)
        return self._spoken

    def _halted(self) -> bool:
        return self._stop.is_set() or self.cancel.is_set()

    def _generate(self) -> None:
        started = time.monotonic()
        try:
            for sentence in self.lead:
                self.on_sentence(sentence)
                if not _put(self._sentences, sentence, self._stop):
                    return
            for sentence in self._revised(sentences(self._timed_tokens(started))):
                self.on_sentence(sentence)
                if not _put(self._sentences, sentence, self._stop):
                    return
        except BaseException as e:  # handed to run(), which raises it in the caller's thread
            self._errors.append(e)
        finally:
            close = getattr(self.tokens, "close", None)
            if close is not None:
                close()  # ends generation inside llama.cpp when cancelled early
            _put(self._sentences, _DONE, self._stop)

    def _revised(self, model_sentences: Iterable[str]) -> Iterator[str]:
        for sentence in model_sentences:
            revised = self.revise(sentence) if self.revise is not None else sentence
            if revised != sentence:
                self._spoken.revised = True
            if revised:
                yield revised

    def _timed_tokens(self, started: float) -> Iterator[str]:
        pieces = []
        for piece in self.tokens:
            self.timings.setdefault("vlm_first_token", ms_since(started))
            if self._halted():
                return
            pieces.append(piece)
            yield piece
        self.timings["vlm_total"] = ms_since(started)
        self._spoken.generated = "".join(pieces)

    def _synthesize(self) -> None:
        tts_ms = 0.0
        try:
            while not self.cancel.is_set():
                sentence = _get(self._sentences, self._stop)
                if sentence is _DONE:
                    return
                self._spoken.sentences.append(sentence)
                index = len(self._spoken.sentences) - 1
                started = time.monotonic()
                for chunk in self.synthesizer.synthesize(sentence, self.speech_rate):
                    tts_ms += ms_since(started)
                    self.timings.setdefault("tts_first_chunk", tts_ms)
                    self.timings["tts_total"] = tts_ms
                    if self._halted() or not _put(self._audio, (index, chunk), self._stop):
                        return
                    started = time.monotonic()
        except BaseException as e:
            self._errors.append(e)
        finally:
            _put(self._audio, _DONE, self._stop)

    def _chunks(self) -> Iterator[AudioChunk]:
        """The sink's input: speech chunks in sentence order, as synthesis delivers them."""
        while not self.cancel.is_set():
            item = _get(self._audio, self.cancel)
            if item is _DONE:
                return
            index, chunk = item
            self._note_audio(index)
            self._yielded.append(index)
            yield chunk

    def _note_audio(self, index: int) -> None:
        """The time of the first sound, and with a lead, of its first and of the model's first."""
        if not self._spoken.audible:
            self._spoken.audible = True
            self.timings["first_audio"] = ms_since(self.released_at)
            self.on_first_audio()
        if self.lead:
            name = "instant_audio" if index < len(self.lead) else "answer_audio"
            self.timings.setdefault(name, ms_since(self.released_at))

    def _heard(self, played: int) -> list[str]:
        """The sentences the user heard: those before the first chunk that was not played in full."""
        spoken = self._spoken.sentences
        if played < len(self._yielded):
            return spoken[: self._yielded[played]]
        if self.cancel.is_set():
            return spoken[: max(self._yielded, default=-1) + 1]
        return list(spoken)


class SequentialSpeech(SpeechStream):
    """The naive order, kept to measure what streaming saves: the whole answer is generated, then all
    of it synthesised, then played."""

    def run(self) -> Spoken:
        started = time.monotonic()
        text = "".join(self._timed_tokens(started))
        chunks: list[AudioChunk] = []
        tts_started = time.monotonic()
        for index, sentence in enumerate([*self.lead, *self._revised(sentences([text]))]):
            self.on_sentence(sentence)
            self._spoken.sentences.append(sentence)
            for chunk in self.synthesizer.synthesize(sentence, self.speech_rate):
                self.timings.setdefault("tts_first_chunk", ms_since(tts_started))
                self._yielded.append(index)
                chunks.append(chunk)
        self.timings["tts_total"] = ms_since(tts_started)
        if chunks:
            self._note_audio(0)
        played = self.sink.play(chunks, self.cancel)
        self._spoken.heard = self._heard(played)
        return self._spoken
