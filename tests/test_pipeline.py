"""Streamed answers and barge-in, with a scripted VisionChat (the VLM is not under test here), real Piper,
and a WAV sink that timestamps what it plays."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import scene

from assistant.cli.factory import assemble_engine
from assistant.core.conversation import INTERRUPTED_MARK
from assistant.core.presets import Preset
from assistant.core.turn import AnswerOptions, Session, TurnControl
from assistant.core.types import Frame
from assistant.hear.stt import WhisperTranscriber
from assistant.speak.sinks import WavFileSink
from assistant.speak.tts import PiperSynthesizer

SENTENCES = ["The mug is red.", "It stands on the left of the table.", "A spoon lies beside it."]


class ScriptedVision:
    """Yields the script's pieces, pausing `delays[i]` seconds before piece i; records what it produced."""

    def __init__(self, pieces: list[str], delays: list[float]) -> None:
        self.pieces = pieces
        self.delays = delays
        self.produced: list[tuple[float, str]] = []
        self.closed_early = False
        self.calls = 0

    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
        self.calls += 1
        try:
            for piece, delay in zip(self.pieces, self.delays, strict=True):
                time.sleep(delay)
                self.produced.append((time.monotonic(), piece))
                yield piece
        except GeneratorExit:
            self.closed_early = True
            raise

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        return sum(len(str(m["content"])) // 4 for m in messages)

    def close(self) -> None:
        pass


def _words(sentences: list[str]) -> list[str]:
    return [word + " " for sentence in sentences for word in sentence.split()]


def _assistant(
    transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, sink: WavFileSink, vision: ScriptedVision
) -> Session:
    return assemble_engine(transcriber, synthesizer, vlm=vision, options=AnswerOptions(temperature=0.0)).session(sink)


@pytest.mark.slow
def test_the_first_sentence_plays_while_the_model_is_still_writing(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer
) -> None:
    pieces = _words(SENTENCES)
    first_sentence_words = len(SENTENCES[0].split())
    delays = [0.01] * first_sentence_words + [0.25] * (len(pieces) - first_sentence_words)
    vision = ScriptedVision(pieces, delays)
    sink = WavFileSink(tmp_path / "answers")
    turn = _assistant(transcriber, synthesizer, sink, vision).answer_text("What is on the table?", Frame(scene(1)))
    assert turn.error is None
    last_token_at = vision.produced[-1][0]
    assert sink.chunk_times[0] < last_token_at - 1.0, "speech started well before generation ended"
    assert sink.chunk_texts == SENTENCES, "chunks play in sentence order"
    assert turn.answer == " ".join(SENTENCES)
    assert turn.timings_ms["first_audio"] < turn.timings_ms["vlm_total"]


def test_barge_in_stops_playback_and_generation_and_memory_keeps_what_was_heard(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer
) -> None:
    pieces = _words(SENTENCES * 3)
    vision = ScriptedVision(pieces, [0.03] * len(pieces))
    sink = WavFileSink(tmp_path / "answers", realtime=True)
    assistant = _assistant(transcriber, synthesizer, sink, vision)
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def press_after_the_first_sentence() -> None:
        while len(sink.chunk_times) < 2:
            time.sleep(0.005)
        cancelled_at.append(time.monotonic())
        cancel.set()

    presser = threading.Thread(target=press_after_the_first_sentence)
    presser.start()
    turn = assistant.answer_text("Describe the table.", Frame(scene(2)), control=TurnControl(cancel=cancel))
    presser.join()

    assert turn.interrupted
    assert sink.sound_until - cancelled_at[0] < 0.1, "nothing was played 100 ms after the press"
    assert vision.closed_early, "generation was stopped"
    assert len(vision.produced) < len(pieces)
    assert turn.answer == SENTENCES[0]
    assert assistant.conversation.exchanges[-1].answer == SENTENCES[0]
    messages = assistant.conversation.messages(lambda frame: {"type": "text", "text": "image"})
    assert messages[-1] == {"role": "assistant", "content": SENTENCES[0] + INTERRUPTED_MARK}


def test_an_error_in_generation_is_spoken_and_the_question_forgotten(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer
) -> None:
    class Failing(ScriptedVision):
        def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
            yield "The "
            raise RuntimeError("the model fell over")

    sink = WavFileSink(tmp_path / "answers")
    assistant = _assistant(transcriber, synthesizer, sink, Failing([], []))
    turn = assistant.answer_text("What is this?", Frame(scene(3)))
    assert turn.error == "Sorry, something went wrong inside the assistant. Please try again."
    assert assistant.conversation.exchanges == []
    assert len(sink.written) == 1, "the error was spoken"


@pytest.mark.parametrize("pieces", [[], [" ", "**", "😀"]])
def test_an_empty_answer_is_never_silence(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, pieces: list[str]
) -> None:
    sink = WavFileSink(tmp_path / "answers")
    assistant = _assistant(transcriber, synthesizer, sink, ScriptedVision(pieces, [0.0] * len(pieces)))
    turn = assistant.answer_text("What is this?", Frame(scene(3)))
    assert turn.error == "I have no answer for that. Please ask again."
    assert set(sink.chunk_texts) == {"I have no answer for that. Please ask again."}
    assert len(sink.written) == 1
