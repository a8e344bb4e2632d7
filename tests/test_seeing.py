"""Whole turns through the Assistant for reading, documents, light, colour and framing help: real OCR, real
Piper into WAV files, and the tiny random-weight VLM where a model is asked (its words are gibberish, so only
what it was given is asserted)."""

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import read_wav
from renders import render
from skimage import data

from assistant.cli.factory import assemble_engine
from assistant.core.phrases import BOOKS
from assistant.core.turn import AnswerOptions, ImageBudgets, Session, TurnControl
from assistant.core.turnlog import TurnLog
from assistant.core.types import Frame
from assistant.hear.stt import WhisperTranscriber
from assistant.see.camera import VideoFileSource
from assistant.see.ocr import TextReader
from assistant.see.perception import luminance
from assistant.speak.earcons import light_pitch
from assistant.speak.sinks import WavFileSink
from assistant.speak.tts import PiperSynthesizer
from assistant.think.vlm import LocalVisionChat
from tools.tiny_vlm import TinyVLMPair

PRICES = [("Product", "Price"), ("Apple", "$1.20"), ("Bread", "$2.50"), ("Milk", "$0.99")]


@pytest.fixture(scope="module")
def vision(tiny_pair: TinyVLMPair) -> Iterator[LocalVisionChat]:
    chat = LocalVisionChat(tiny_pair.model, tiny_pair.mmproj, n_ctx=2048, seed=0)
    yield chat
    chat.close()


def _assistant(
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    reader: TextReader,
    out: Path,
    vision: LocalVisionChat | None = None,
    realtime: bool = False,
) -> tuple[Session, WavFileSink]:
    sink = WavFileSink(out, realtime=realtime)
    options = AnswerOptions(n_ctx=2048, temperature=0.0, max_tokens=12)
    return assemble_engine(transcriber, synthesizer, vlm=vision, options=options, reader=reader).session(sink), sink


def _sign_and_face() -> Frame:
    """An astronaut's portrait beside a platform sign, as one 1280x720 camera frame."""
    image = render([("PLATFORM 4", 760, 320)], 64)
    image[104:616, 80:592] = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    return Frame(image, source="test")


def _price_list(canvas: tuple[int, int] = (1280, 720)) -> Frame:
    pieces = [piece for i, (a, b) in enumerate(PRICES) for piece in ((a, 200, 150 + i * 100), (b, 800, 150 + i * 100))]
    return Frame(render(pieces, 44, canvas), source="test")


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.slow
def test_without_a_model_it_says_what_it_knows_for_sure(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> None:
    assistant, sink = _assistant(transcriber, synthesizer, reader, tmp_path)
    turn = assistant.answer_text("What is in front of me?", _sign_and_face())
    assert turn.error is None
    lines = turn.answer.split("\n")
    assert lines[0] == "I can read: PLATFORM 4"
    assert lines[1] in {"The light is bright.", "The light is very bright."}
    assert lines[2].startswith("The middle of the picture is ")
    assert lines[3] == "I see one face."
    assert lines[4] == BOOKS["en"].needs_vision_model
    assert turn.messages == [] and turn.preset is None, "no model was asked"
    assert turn.route == "scene" and turn.text_read == "PLATFORM 4"
    assert read_wav(sink.written[0]).duration_s > 3


@pytest.mark.slow
def test_without_a_model_a_chinese_question_gets_a_chinese_answer(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> None:
    assistant, _ = _assistant(transcriber, synthesizer, reader, tmp_path)
    turn = assistant.answer_text("我前面有什么？", _sign_and_face())
    lines = turn.answer.split("\n")
    assert lines[0] == "我读到的文字：PLATFORM 4"
    assert lines[1].startswith("光线")
    assert lines[2].startswith("中间的颜色是")
    assert lines[3] == "我看到1张脸。"
    assert lines[4] == BOOKS["zh"].needs_vision_model


def test_read_this_is_read_verbatim_by_ocr_not_the_model(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    reader: TextReader,
    vision: LocalVisionChat,
) -> None:
    letter = ["Dear Sam,", "The meeting moved to Room 12", "at 3 pm on Thursday.", "Ana"]
    frame = Frame(render([(line, 100, 100 + i * 70) for i, line in enumerate(letter)], 40))
    assistant, sink = _assistant(transcriber, synthesizer, reader, tmp_path, vision)
    turn = assistant.answer_text("Read this, please.", frame)
    assert turn.error is None
    assert turn.answer == "\n".join(letter)
    assert turn.route == "read" and turn.messages == [], "the model was not asked to retype it"
    assert turn.framing == []
    assert "ocr" in turn.timings_ms
    assert len(sink.written) == 1


@pytest.mark.slow
def test_a_question_about_text_gives_the_model_the_exact_text(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    reader: TextReader,
    vision: LocalVisionChat,
) -> None:
    assistant, _ = _assistant(transcriber, synthesizer, reader, tmp_path, vision)
    turn = assistant.answer_text("What's the price of bread?", _price_list(canvas=(1920, 1080)))
    assert turn.error is None
    assert turn.route == "text"
    user = turn.messages[-1]["content"]
    [text] = [part["text"] for part in user if part["type"] == "text"]
    assert (
        text
        == "What's the price of bread?\n\n"
        + BOOKS["en"].text_in_picture
        + "Product Price\nApple $1.20\nBread $2.50\nMilk $0.99"
    )
    assert [part["image_url"]["url"] for part in user if part["type"] == "image_url"] == [
        f"<image {turn.image_sha256}>"
    ]
    # OCR read the full 1920 x 1080 picture; the model gets a copy within the reading budget, whole tokens a side
    width, height = turn.image_size
    pixels = vision.pixels_per_token
    assert width % pixels == 0 and height % pixels == 0 and height < 768
    assert turn.image_tokens == (width // pixels) * (height // pixels) <= ImageBudgets().read
    assert abs(width / height - 1920 / 1080) < 0.1


@pytest.mark.slow
def test_a_question_about_text_with_no_text_in_view_says_so_then_asks_the_model(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    reader: TextReader,
    vision: LocalVisionChat,
) -> None:
    assistant, sink = _assistant(transcriber, synthesizer, reader, tmp_path, vision)
    turn = assistant.answer_text("How much is this?", Frame(cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)))
    assert turn.error is None and turn.route == "text"
    assert turn.framing == ["I found no text. Hold the text facing the camera, about 30 centimetres away."]
    assert sink.chunk_texts[0].startswith("I found no text.")
    told = turn.messages[-1]["content"][-1]["text"]
    assert told == f"{BOOKS['en'].already_said(turn.framing[0])}\n\nHow much is this?", "no empty text context"


def test_a_scene_question_gives_the_model_what_was_said_not_the_whole_text(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    reader: TextReader,
    vision: LocalVisionChat,
) -> None:
    assistant, _ = _assistant(transcriber, synthesizer, reader, tmp_path, vision)
    turn = assistant.answer_text("Describe the room.", _sign_and_face())
    assert turn.error is None and turn.route == "scene"
    assert turn.text_read == "PLATFORM 4" and turn.instant == "There is text: PLATFORM 4."
    said = BOOKS["en"].already_said(turn.instant)
    assert turn.messages[-1]["content"][-1]["text"] == f"{said}\n\nDescribe the room."


@pytest.mark.slow
def test_a_document_is_returned_whole_as_json_and_spoken_as_a_summary(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> None:
    assistant, _ = _assistant(transcriber, synthesizer, reader, tmp_path)
    assistant.engine.turn_log = TurnLog(tmp_path / "turns.jsonl")
    turn = assistant.answer_text("List the products and their prices.", _price_list())
    assert turn.error is None and turn.route == "document"
    expected = [{"Product": p, "Price": c} for p, c in PRICES[1:]]
    assert turn.document == expected
    assert turn.answer == "3 items: Apple, $1.20; Bread, $2.50; Milk, $0.99."
    [logged] = [json.loads(line) for line in (tmp_path / "turns.jsonl").read_text().splitlines()]
    assert logged["document"] == expected


def test_colour_and_light_are_answered_at_once_without_a_model(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> None:
    assistant, _ = _assistant(transcriber, synthesizer, reader, tmp_path)
    navy = Frame(np.full((720, 1280, 3), (110, 20, 10), np.uint8))
    assert assistant.answer_text("What colour is this?", navy).answer == "The middle of the picture is dark blue."
    assert assistant.answer_text("这是什么颜色？", navy).answer == "中间的颜色是深蓝色。"
    assert assistant.answer_text("Is the light on?", navy).answer == "It is dark here."
    white = Frame(np.full((720, 1280, 3), 235, np.uint8))
    assert assistant.answer_text("How bright is it?", white).answer == "The light is very bright."
    assert assistant.answer_text("光线怎么样？", white).answer == "光线非常亮。"


def test_a_dark_picture_is_not_sent_to_the_model(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    reader: TextReader,
    vision: LocalVisionChat,
) -> None:
    assistant, _ = _assistant(transcriber, synthesizer, reader, tmp_path, vision)
    dark = Frame((cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR) * 0.05).astype(np.uint8))
    turn = assistant.answer_text("What is in front of me?", dark)
    assert turn.error is None
    assert turn.answer.startswith("It is too dark to see.")
    assert turn.messages == []


def test_a_blurred_picture_gets_a_hint_and_then_the_answer(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    reader: TextReader,
    vision: LocalVisionChat,
) -> None:
    assistant, sink = _assistant(transcriber, synthesizer, reader, tmp_path, vision)
    blurred = Frame(cv2.GaussianBlur(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (0, 0), 5))
    turn = assistant.answer_text("What is in front of me?", blurred)
    assert turn.framing == ["The picture is blurred: hold the camera still."]
    assert turn.messages, "the model is still asked"
    assert sink.chunk_texts[0] == "The picture is blurred: hold the camera still."


@pytest.mark.slow
def test_cut_off_text_and_no_text_get_framing_hints(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> None:
    assistant, _ = _assistant(transcriber, synthesizer, reader, tmp_path)
    cut = assistant.answer_text("Read this.", Frame(render([("Emergency exit on the left", 1000, 300)], 48)))
    assert cut.answer.split("\n")[-1] == "Text is cut off at the right edge: move the camera a little right."
    cat = assistant.answer_text("What does it say?", Frame(cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)))
    assert cat.answer.startswith("I found no text.")
    assert cat.text_read == ""


@pytest.mark.slow
def test_light_mode_plays_a_tone_that_follows_the_light_until_stopped(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> None:
    video = tmp_path / "dimming.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    levels = [230, 230, 230, 230, 30, 30, 30, 30]
    for level in levels:
        writer.write(np.full((240, 320, 3), level, np.uint8))
    writer.release()
    assistant, sink = _assistant(transcriber, synthesizer, reader, tmp_path / "out", realtime=True)
    assistant.camera = VideoFileSource(video)
    control = TurnControl()

    def press_key_once_the_tone_has_played_a_while() -> None:
        while len(sink.written) < 2 and not control.cancel.wait(0.01):
            pass
        time.sleep(0.9)
        control.cancel.set()

    stopper = threading.Thread(target=press_key_once_the_tone_has_played_a_while)
    stopper.start()
    try:
        turn = assistant.answer_text("light", None, control=control)
    finally:
        control.cancel.set()
        stopper.join()
    assert turn.command == "light" and turn.error is None
    speech, tone = sink.written
    assert read_wav(speech).duration_s > 1, "it says what the tone means first"
    clip = read_wav(tone)
    assert 0.8 < clip.duration_s < 1.5, "the key press stopped it"
    piece = round(0.1 * clip.sample_rate)
    bright_hz, dark_hz = (light_pitch(luminance(np.full((8, 8, 3), v, np.uint8))) for v in (230, 30))
    heard = [_dominant_hz(clip.samples[i * piece : (i + 1) * piece], clip.sample_rate) for i in range(4)]
    assert all(abs(hz - bright_hz) < 20 for hz in heard[:4])
    later = [_dominant_hz(clip.samples[i * piece : (i + 1) * piece], clip.sample_rate) for i in range(4, 8)]
    assert all(abs(hz - dark_hz) < 20 for hz in later)


def test_light_mode_on_a_still_picture_stops_by_itself(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> None:
    assistant, sink = _assistant(transcriber, synthesizer, reader, tmp_path)
    turn = assistant.answer_text("光线", Frame(np.full((240, 320, 3), 128, np.uint8)))
    assert turn.answer.startswith("光线模式")
    clip = read_wav(sink.written[-1])
    assert 1.9 < clip.duration_s < 2.1
    expected = light_pitch(128 / 255)
    assert abs(_dominant_hz(clip.samples, clip.sample_rate) - expected) < 5
    assert np.abs(np.diff(clip.samples)).max() < 0.1, "pieces join without a click"


def test_light_mode_without_any_picture_says_why(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, reader: TextReader
) -> None:
    assistant, _ = _assistant(transcriber, synthesizer, reader, tmp_path)
    turn = assistant.answer_text("light mode", None)
    assert turn.error == "I can't see: there is no picture from the camera."


@pytest.mark.slow
def test_ask_reads_a_price_list_into_json_from_the_command_line(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.cli.main import main

    image = tmp_path / "prices.png"
    cv2.imwrite(str(image), _price_list().image)
    log = tmp_path / "turns.jsonl"
    code = main(
        ["ask", "--config", str(config_file), "--text", "List the products and their prices."]
        + ["--image", str(image), "--out", str(tmp_path / "answer.wav"), "--log-turns", str(log)]
    )
    assert code == 0
    assert "3 items: Apple, $1.20; Bread, $2.50; Milk, $0.99." in capsys.readouterr().out
    [turn] = [json.loads(line) for line in log.read_text().splitlines()]
    assert turn["document"] == [{"Product": p, "Price": c} for p, c in PRICES[1:]]
    assert read_wav(tmp_path / "answer.wav").duration_s > 2


def test_with_reading_turned_off_the_model_reads_or_the_user_hears_why(
    tmp_path: Path, transcriber: WhisperTranscriber, synthesizer: PiperSynthesizer, vision: LocalVisionChat
) -> None:
    sink = WavFileSink(tmp_path)
    options = AnswerOptions(n_ctx=2048, temperature=0.0, max_tokens=12)
    alone = assemble_engine(transcriber, synthesizer, options=options).session(sink)
    assert alone.answer_text("Read this.", _price_list()).error == (
        "I can't read text: reading is turned off. Set ocr.enabled to true."
    )
    facts = alone.answer_text("What is in front of me?", _sign_and_face())
    assert facts.error is None and facts.answer.split("\n")[2] == "I see one face."
    with_model = assemble_engine(transcriber, synthesizer, vlm=vision, options=options).session(sink)
    turn = with_model.answer_text("Read this.", _price_list())
    assert turn.error is None and turn.text_read is None
    assert turn.messages[-1]["content"][-1]["text"] == "Read this."
