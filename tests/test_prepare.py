"""A picture taken in while the question is spoken must change nothing but the time: the answer is token for token
the one computed from scratch, a view that changed by the release is the one the model sees, and commands, silence
and cancelled turns leave the conversation as it was."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import scene
from skimage import data

from assistant.cli.factory import assemble_engine, warm_up_picture
from assistant.cli.loop import PushToTalkLoop
from assistant.cli.runner import DiscardSink
from assistant.core.turn import AnswerOptions, ImageBudgets, Prepared, Session
from assistant.core.turnlog import TurnLog
from assistant.core.types import AudioClip, Frame
from assistant.hear.audio import WavFileSource, read_audio_file
from assistant.hear.keys import ScriptedKeys
from assistant.hear.stt import WhisperTranscriber
from assistant.speak.tts import PiperSynthesizer
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import TinyVLMPair

OPTIONS = AnswerOptions(n_ctx=2048, temperature=0.0, max_tokens=12)
FAMILIES = ["qwen2.5-vl", "qwen3-vl"]


@pytest.fixture(params=FAMILIES)
def sessions(
    request: pytest.FixtureRequest,
    tiny_pairs: dict[str, TinyVLMPair],
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
) -> Iterator[tuple[Session, Session]]:
    """A session whose model keeps its KV cache and can prepare, and one that evaluates every prompt afresh."""
    pair = tiny_pairs[request.param]
    # Answers equal to those from scratch, token for token, need the same kernels for any batch split: flash
    # attention's sums run in another order for another split, so it is off here.
    kept = LocalVisionChat(pair.model, pair.mmproj, n_ctx=2048, flash_attn=False)
    fresh = LocalVisionChat(pair.model, pair.mmproj, n_ctx=2048, keep_prefix=False, flash_attn=False)
    yield (
        assemble_engine(transcriber, synthesizer, vlm=kept, options=OPTIONS).session(DiscardSink()),
        assemble_engine(transcriber, synthesizer, vlm=fresh, options=OPTIONS).session(DiscardSink()),
    )
    kept.close()
    fresh.close()


def _done(prepared: Prepared | None) -> Future[Prepared | None]:
    future: Future[Prepared | None] = Future()
    future.set_result(prepared)
    return future


def _camera_frame(index: int) -> Frame:
    return Frame(scene(index, 640, 480), source="camera")


def test_a_prepared_picture_answers_token_for_token_as_from_scratch(sessions: tuple[Session, Session]) -> None:
    prepared_session, scratch = sessions
    for question, frame in (("What is in front of me?", _camera_frame(1)), ("And now?", _camera_frame(5))):
        prepared = prepared_session.prepare(frame)
        assert prepared is not None and prepared.cost.image_encode_ms > 0 and prepared.cost.image_tokens > 0
        turn = prepared_session.answer_text(question, frame, preparing=_done(prepared))
        baseline = scratch.answer_text(question, frame)
        assert turn.error is None and baseline.error is None
        assert turn.answer and turn.answer == baseline.answer, question
        assert turn.prepared is True
        assert turn.image_sha256 == baseline.image_sha256 == prepared.model_frame.sha256
        assert turn.timings_ms["image_encode"] == 0, "the picture was encoded before the release"
        assert turn.timings_ms["prepare_image_encode"] == prepared.cost.image_encode_ms
        assert turn.image_tokens == prepared.cost.image_tokens
    assert [e.question for e in prepared_session.conversation.exchanges] == ["What is in front of me?", "And now?"]


def test_the_first_look_budget_takes_effect_in_the_encoder(sessions: tuple[Session, Session]) -> None:
    session, _ = sessions
    vlm = session.engine.vlm
    assert isinstance(vlm, LocalVisionChat)
    pixels, budget = vlm.pixels_per_token, ImageBudgets().first_look
    turn = session.answer_text("Is it the blue one?", _camera_frame(2))
    width, height = turn.image_size or [0, 0]
    assert turn.image_tokens == (width // pixels) * (height // pixels), "what the encoder made is the grid sent"
    assert budget * 0.75 < (turn.image_tokens or 0) <= budget
    assert (640 // pixels) * (480 // pixels) > budget, "the full picture would have been more"


def test_a_question_needing_another_budget_does_not_use_the_prepared_picture(
    sessions: tuple[Session, Session],
) -> None:
    prepared_session, scratch = sessions
    frame = _camera_frame(3)
    prepared = prepared_session.prepare(frame)
    turn = prepared_session.answer_text("Describe it in more detail.", frame, preparing=_done(prepared))
    baseline = scratch.answer_text("Describe it in more detail.", frame)
    assert turn.prepared is False and turn.answer == baseline.answer
    assert prepared is not None and (turn.image_tokens or 0) > prepared.cost.image_tokens


@pytest.mark.slow
def test_commands_and_silence_during_preparation_leave_the_conversation_as_it_was(
    sessions: tuple[Session, Session],
) -> None:
    prepared_session, scratch = sessions
    first = _camera_frame(1)
    prepared_session.answer_text("What is in front of me?", first)
    scratch.answer_text("What is in front of me?", first)
    before = [(e.question, e.answer) for e in prepared_session.conversation.exchanges]

    moved = _camera_frame(6)
    command = prepared_session.answer_text("Repeat.", moved, preparing=_done(prepared_session.prepare(moved)))
    assert command.command == "repeat" and command.error is None
    silence = AudioClip(np.zeros(16000, np.float32), 16000)
    unheard = prepared_session.answer_recording(silence, moved, preparing=_done(prepared_session.prepare(moved)))
    assert unheard.error_code == "nothing_heard"
    assert [(e.question, e.answer) for e in prepared_session.conversation.exchanges] == before

    # the KV cache now ends in a picture no question was asked about: the next answer must not notice
    turn = prepared_session.answer_text("Is it the blue one?", first)
    assert turn.answer == scratch.answer_text("Is it the blue one?", first).answer


def test_a_cancelled_preparation_is_not_used(sessions: tuple[Session, Session]) -> None:
    prepared_session, scratch = sessions
    cancelled = threading.Event()
    cancelled.set()
    frame = _camera_frame(4)
    assert prepared_session.prepare(frame, cancelled) is None
    turn = prepared_session.answer_text("What is it?", frame, preparing=_done(None))
    assert turn.prepared is None and turn.answer == scratch.answer_text("What is it?", frame).answer


def test_warm_start_encodes_one_picture_and_changes_no_answer(sessions: tuple[Session, Session]) -> None:
    prepared_session, scratch = sessions
    cost = prepared_session.engine.warm_up(Frame(warm_up_picture()))
    assert cost is not None and cost.images_encoded == 1 and cost.image_tokens > 0
    frame = _camera_frame(2)
    assert prepared_session.answer_text("What is it?", frame).answer == scratch.answer_text("What is it?", frame).answer
    assert scratch.engine.warm_up(Frame(warm_up_picture())) is None, "a model that keeps nothing is not warmed"


class PressAndRelease:
    """A camera showing one picture at the press and another at the release."""

    def __init__(self, at_press: Frame, at_release: Frame) -> None:
        self.frames = [at_press, at_release]

    def grab(self) -> Frame:
        return self.frames.pop(0) if len(self.frames) > 1 else self.frames[0]

    def close(self) -> None:
        pass


@pytest.mark.slow
@pytest.mark.parametrize("moved", [False, True], ids=["view-unchanged", "camera-moved"])
def test_the_loop_answers_about_the_view_at_the_release(
    tiny_pair: TinyVLMPair,
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    question_wav: Path,
    tmp_path: Path,
    moved: bool,
) -> None:
    vlm = LocalVisionChat(tiny_pair.model, tiny_pair.mmproj, n_ctx=2048)
    log = tmp_path / "turns.jsonl"
    engine = assemble_engine(transcriber, synthesizer, vlm=vlm, options=OPTIONS, turn_log=TurnLog(log))
    session = engine.session(DiscardSink())
    at_press = _camera_frame(1)
    # a hand's tremor shifts the view a little; a turned camera shows another scene
    shifted = np.roll(at_press.image, 2, axis=1)
    elsewhere = cv2.resize(np.ascontiguousarray(data.astronaut()[..., ::-1]), (640, 480))
    at_release = Frame(elsewhere if moved else shifted)
    camera = PressAndRelease(at_press, at_release)
    try:
        # the spoken question takes over a second: preparation runs while it plays
        keys = ScriptedKeys([" ", (read_audio_file(question_wav).duration_s, " ")])
        PushToTalkLoop(session, WavFileSource([question_wav]), camera, keys, lambda line: None).run()
    finally:
        vlm.close()
    (turn,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert turn["error"] is None
    seen = at_release if moved else at_press
    expected = engine.sight.for_model(seen, OPTIONS.budgets.first_look, vlm.pixels_per_token)
    assert turn["image_sha256"] == expected.sha256
    assert turn["prepared"] is (not moved)
    assert turn["image_tokens"] > 0
    for stage in ("image_encode", "prefill", "prepare_image_encode", "prepare_prefill", "prepare_wait"):
        assert stage in turn["timings_ms"], stage
    if moved:
        assert turn["timings_ms"]["image_encode"] > 0, "the new view is encoded after the release"
    else:
        assert turn["timings_ms"]["image_encode"] == 0


def test_a_new_conversation_keeps_the_system_prompt_in_the_cache(sessions: tuple[Session, Session]) -> None:
    session, _ = sessions
    vlm = session.engine.vlm
    assert isinstance(vlm, LocalVisionChat)
    session.answer_text("What is in front of me?", _camera_frame(1))
    assert session.answer_text("New conversation.", None).command == "new_conversation"
    system_only = vlm.count_tokens([{"role": "system", "content": session.conversation.system_prompt}])
    session.answer_text("What is it?", _camera_frame(2))
    assert vlm.cost.reused_positions >= system_only - 8, "only the turn itself was evaluated"
