"""What is known at once is said at once, and what the model says about numbers and names is held against what
was read: real OCR, real Piper into WAV files, and the tiny random-weight VLM, steered through its logits onto a
chosen sentence where the test is about the sentence."""

import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from helpers import text_of
from renders import cjk_font_path, render
from skimage import data

from assistant.cli.factory import assemble_engine, make_session
from assistant.cli.loop import PushToTalkLoop
from assistant.config import Config
from assistant.core.phrases import BOOKS
from assistant.core.presets import Preset
from assistant.core.turn import AnswerOptions, Prepared, Session
from assistant.core.types import Frame
from assistant.hear.audio import WavFileSource, read_audio_file
from assistant.hear.keys import ScriptedKeys
from assistant.hear.stt import WhisperTranscriber
from assistant.see.camera import ImageFileSource
from assistant.see.ocr import TextReader
from assistant.speak.sinks import WavFileSink
from assistant.speak.tts import PiperSynthesizer
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import TinyVLMPair

EN, ZH = BOOKS["en"], BOOKS["zh"]


class SteeredChat(LocalVisionChat):
    """The tiny model made to write `sentence`, token by token, then stop: its prompt, picture and KV cache are
    handled as for any answer; only the choice of each next token is forced."""

    sentence = ""

    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
        target = [*self.llm.tokenize(self.sentence.encode(), add_bos=False), self.llm.token_eos()]
        start: list[int] = []

        def steer(input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
            if not start:
                start.append(len(input_ids))
            scores[:] = -np.inf
            scores[target[min(len(input_ids) - start[0], len(target) - 1)]] = 0.0
            return scores

        chunks = self.llm.create_chat_completion(
            messages=messages, stream=True, temperature=0.0, max_tokens=preset.max_tokens, logits_processor=[steer]
        )
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                yield piece


@pytest.fixture(scope="module")
def steered(tiny_pair: TinyVLMPair) -> Iterator[SteeredChat]:
    chat = SteeredChat(tiny_pair.model, tiny_pair.mmproj, n_ctx=2048, seed=0)
    yield chat
    chat.close()


@pytest.fixture
def session_with(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> Callable[..., Session]:
    def make(vlm: LocalVisionChat | None, say_first: bool = True) -> Session:
        options = AnswerOptions(n_ctx=2048, temperature=0.0, max_tokens=200, say_first=say_first)
        engine = assemble_engine(transcriber, synthesizer, vlm=vlm, options=options, reader=reader)
        return engine.session(WavFileSink(tmp_path / "out"))

    return make


def _sign(lines: list[str], font: Path | None = None) -> Frame:
    pieces = [(line, 360, 200 + 110 * index) for index, line in enumerate(lines)]
    return Frame(render(pieces, 64, font_path=font), source="test")


PHARMACY = ["PHARMACY", "Open until 9 pm"]
LABEL = ["IBUPROFEN 200 mg", "Price $4.99"]


def test_a_new_picture_with_text_says_the_text_first_then_the_model(
    session_with: Callable[..., Session], steered: SteeredChat
) -> None:
    steered.sentence = "A shop front with a green cross."
    session = session_with(steered)
    turn = session.answer_text("What is in front of me?", _sign(PHARMACY))
    assert turn.error is None and turn.route == "scene"
    assert turn.instant == "There is text: PHARMACY, Open until 9 pm."
    assert turn.answer == f"{turn.instant} A shop front with a green cross."
    assert turn.timings_ms["instant_audio"] <= turn.timings_ms["answer_audio"]
    told = text_of(turn.messages[-1])
    assert told == f"{EN.already_said(turn.instant)}\n\nWhat is in front of me?", "the model knows what was said"
    assert turn.messages[-1]["content"][0]["type"] == "image_url"

    follow_up = session.answer_text("Is the door open?", _sign(PHARMACY))
    assert follow_up.error is None and follow_up.instant is None, "the same picture's text is not said again"
    assert text_of(follow_up.messages[-1]) == "Is the door open?"
    history = follow_up.messages[-2]
    assert history["role"] == "assistant" and history["content"] == "A shop front with a green cross."


def test_say_first_off_leaves_the_answer_to_the_model(
    session_with: Callable[..., Session], steered: SteeredChat
) -> None:
    steered.sentence = "A shop front."
    turn = session_with(steered, say_first=False).answer_text("What is in front of me?", _sign(PHARMACY))
    assert turn.instant is None and turn.answer == "A shop front."
    assert "instant_audio" not in turn.timings_ms


@pytest.mark.slow
def test_a_picture_without_text_has_an_instant_part_only_for_a_problem(
    session_with: Callable[..., Session], steered: SteeredChat
) -> None:
    steered.sentence = "A cup of coffee."
    photo = cv2.resize(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR), (1280, 720))
    turn = session_with(steered).answer_text("What is in front of me?", Frame(photo, source="test"))
    assert turn.instant is None and turn.text_read == "" and turn.answer == "A cup of coffee."

    steered.sentence = "A blank page."
    turn = session_with(steered).answer_text("What is in front of me?", _sign([]))
    assert turn.instant == EN.blurred and turn.answer == f"{EN.blurred} A blank page."


def test_a_question_answered_by_reading_is_unchanged(
    session_with: Callable[..., Session], steered: SteeredChat
) -> None:
    turn = session_with(steered).answer_text("Read this to me.", _sign(PHARMACY))
    assert turn.route == "read" and turn.instant is None
    assert turn.answer == "PHARMACY\nOpen until 9 pm"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "sentence", "heard", "unverified"),
    [
        ("What is this?", "Ibuprofen tablets, 200 mg, at $4.99.", "Ibuprofen tablets, 200 mg, at $4.99.", []),
        (
            "What is this?",
            "Ibuprofen tablets, 400 mg.",
            "Ibuprofen tablets, 400 mg. " + EN.unsure_of(["400 mg"]),
            ["400 mg"],
        ),
        ("How much does it cost?", "It costs $12.99.", EN.read_instead(["Price $4.99"]), ["$12.99"]),
        ("How much should I take?", "Take 800 mg.", EN.read_instead(["IBUPROFEN 200 mg"]), ["800 mg"]),
        ("What brand is it?", "It is made by Bayer.", "It is made by Bayer. " + EN.unsure_of(["Bayer"]), ["Bayer"]),
        ("这个多少钱？", "价格是4.99美元。", "价格是4.99美元。", []),
        ("这个多少钱？", "价格是12.99美元。", ZH.read_instead(["Price $4.99"]), ["12.99美元"]),
        ("这是什么？", "布洛芬，每片400毫克。", "布洛芬，每片400毫克。" + ZH.unsure_of(["400毫克"]), ["400毫克"]),
        ("这个药吃多少？", "每次吃800毫克。", ZH.read_instead(["IBUPROFEN 200 mg"]), ["800毫克"]),
    ],
    ids=[
        "agrees",
        "dose-not-read",
        "price-question",
        "dose-question",
        "name-not-read",
        "zh-agrees",
        "zh-price-question",
        "zh-dose-not-read",
        "zh-dose-question",
    ],
)
def test_numbers_and_names_the_model_did_not_read_are_flagged_or_replaced(
    session_with: Callable[..., Session],
    steered: SteeredChat,
    question: str,
    sentence: str,
    heard: str,
    unverified: list[str],
) -> None:
    steered.sentence = sentence
    session = session_with(steered, say_first=False)
    turn = session.answer_text(question, _sign(LABEL))
    assert turn.error is None and turn.text_read == "IBUPROFEN 200 mg\nPrice $4.99"
    assert turn.answer == heard and turn.unverified == unverified
    follow_up = session.answer_text("Thanks." if question.isascii() else "谢谢。", _sign(LABEL))
    remembered = follow_up.messages[-2]["content"]
    assert remembered == heard, "memory holds what was said, not the model's unread figure"


@pytest.mark.slow
def test_chinese_text_in_view_is_said_first_in_chinese(
    session_with: Callable[..., Session], steered: SteeredChat
) -> None:
    font = cjk_font_path()
    assert font is not None, "setup.sh installs a CJK font"
    steered.sentence = "一家药店的门口。"
    turn = session_with(steered).answer_text("描述一下", _sign(["药店", "营业到晚上九点"], font))
    assert turn.error is None and turn.instant is not None and turn.instant.startswith("有文字：")
    assert "药店" in turn.instant and turn.answer == f"{turn.instant} 一家药店的门口。"


@pytest.mark.slow
def test_the_real_loop_speaks_the_sign_before_the_model(
    tmp_path: Path, config: Config, speak: Callable[..., Path]
) -> None:
    """Spoken question, camera file, push-to-talk held for as long as the question lasts: the text was read
    while the question was spoken, and is heard before the model's answer."""
    question = speak("What is in front of me?", "front.wav")
    picture = tmp_path / "pharmacy.png"
    cv2.imwrite(str(picture), _sign(PHARMACY).image)
    log = tmp_path / "turns.jsonl"
    sink = WavFileSink(tmp_path / "answers")
    session = make_session(config.with_overrides({"log.turns": str(log)}), sink, lambda kind, text: None)
    clip = read_audio_file(question)
    seconds = len(clip.samples) / clip.sample_rate
    keys = ScriptedKeys([" ", (seconds + 0.1, " ")])
    try:
        loop = PushToTalkLoop(session, WavFileSource([question], realtime=True), ImageFileSource(picture), keys, print)
        loop.run()
    finally:
        session.engine.close()
    turn = json.loads(log.read_text())
    assert turn["error"] is None and turn["route"] == "scene"
    assert turn["instant"] == "There is text: PHARMACY, Open until 9 pm."
    assert turn["answer"].startswith(turn["instant"])
    timings = turn["timings_ms"]
    assert timings["ocr_wait"] < timings["ocr"], "the text was read while the question was spoken"
    assert timings["instant_audio"] <= timings["answer_audio"]


@pytest.mark.slow
def test_what_is_said_first_is_taken_in_at_the_press_with_the_picture(
    session_with: Callable[..., Session], steered: SteeredChat
) -> None:
    """The text read at the press is in the model's cache with the picture before the question ends: after the
    release only the question's own words are left to evaluate."""
    steered.sentence = "A shop front."
    evaluated = {}
    for read_at_press in (True, False):
        steered.handler.forget(steered.llm)
        steered.handler.images.clear()
        session = session_with(steered)
        frame = _sign(PHARMACY)
        prepared = session.prepare(frame, read=session.read_ahead(frame) if read_at_press else None)
        assert prepared is not None
        done: Future[Prepared | None] = Future()
        done.set_result(prepared)
        turn = session.answer_text("What is in front of me?", frame, preparing=done)
        assert turn.prepared and turn.instant == "There is text: PHARMACY, Open until 9 pm."
        evaluated[read_at_press] = steered.cost.evaluated_tokens
    said = len(
        steered.llm.tokenize(EN.already_said("There is text: PHARMACY, Open until 9 pm.").encode(), add_bos=False)
    )
    assert evaluated[False] - evaluated[True] >= said
