"""Chinese end to end: heard by the multilingual whisper, routed, answered and spoken in Chinese.

The questions are spoken offline by the assistant's own Mandarin fallback (espeak-ng fed pinyin), the voice any
machine here has; a Piper Chinese voice, where one has been pulled, speaks them too. Tests check routing, commands,
memory, JSON and the language of what is said, never the tiny model's wording."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import normalise, read_wav, running_service
from renders import cjk_font_path, render

from assistant import errors
from assistant.cli.factory import make_session
from assistant.config import Config
from assistant.core.phrases import BOOKS
from assistant.core.routing import is_chinese, main_language
from assistant.core.types import AudioClip, Frame, Turn
from assistant.errors import AssistantError, NoPictureError
from assistant.hear.stt import SttOptions, WhisperTranscriber, simplified
from assistant.see.camera import ImageFileSource
from assistant.serve.app import create_app
from assistant.speak.sinks import WavFileSink
from assistant.speak.tts import (
    MandarinFallback,
    PiperSynthesizer,
    VoicesByLanguage,
    chinese_number,
    pinyin_for_speech,
    resample,
)
from assistant.think.models import CHINESE_VOICE, MULTILINGUAL_WHISPER

PROJECT = Path(__file__).resolve().parent.parent
WEB = PROJECT / "assistant" / "serve" / "web"
SHOP = [("笔记本电脑", "5999元"), ("智能手机", "3999元"), ("平板电脑", "2999元")]
"""The write-up's price list."""


# -- without models --------------------------------------------------------------------------------------


def test_whisper_traditional_characters_become_simplified() -> None:
    assert simplified("翻面寫的聲部，這張圖片") == "翻面写的声部，这张图片"


@pytest.mark.parametrize(
    ("number", "said"),
    [
        ("0", "零"),
        ("15", "十五"),
        ("105", "一百零五"),
        ("2999", "两千九百九十九"),
        ("10050", "一万零五十"),
        ("3.5", "三点五"),
        ("13800138000", "一三八零零一三八零零零"),
        ("007", "零零七"),
    ],
)
def test_numbers_are_read_in_chinese(number: str, said: str) -> None:
    assert chinese_number(number) == said


def test_chinese_is_spoken_as_pinyin_with_tone_numbers() -> None:
    said = pinyin_for_speech("价格：3,999元，打九折！")
    assert said == "jia4 ge2 , san1 qian1 jiu3 bai3 jiu3 shi2 jiu3 yuan2 , da3 jiu3 zhe2 !"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("这是什么？", "zh"),
        ("What is this?", "en"),
        ("这个 USB 接口是什么？", "zh"),
        ("Is the 价格 on the label?", "en"),
    ],
)
def test_a_sentence_is_spoken_in_its_main_language(text: str, language: str) -> None:
    assert main_language(text) == language


def test_each_sentence_goes_to_the_voice_of_its_main_language(synthesizer: PiperSynthesizer) -> None:
    mandarin = MandarinFallback(synthesizer.sample_rate)
    voices = VoicesByLanguage({"en": synthesizer, "zh": mandarin})
    assert voices.voice_for("这个 USB 接口是什么？") is mandarin
    assert voices.voice_for("The label says 有机 in small print.") is synthesizer
    assert VoicesByLanguage({"en": synthesizer}).voice_for("这是什么？") is synthesizer
    [chunk] = list(voices.synthesize("价格是3.5元。"))
    assert chunk.sample_rate == synthesizer.sample_rate and len(chunk.samples) > synthesizer.sample_rate


def test_every_error_has_a_chinese_sentence() -> None:
    codes = {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, AssistantError)}
    chinese = BOOKS["zh"]
    assert codes <= set(chinese.error_by_code)
    assert all(is_chinese(sentence) for sentence in chinese.error_by_code.values())
    english = NoPictureError("I can't see: no picture was given.")
    assert chinese.explain(english) == chinese.no_picture
    assert chinese.explain(NoPictureError(chinese.no_picture_given)) == chinese.no_picture_given
    assert BOOKS["en"].explain(english) == english.spoken()


def test_every_phrase_of_the_books_is_in_its_language() -> None:
    for language, book in BOOKS.items():
        for name in dir(book):
            value = getattr(book, name)
            if name.startswith("_") or not isinstance(value, str) or name in {"language", "sentence_end", "unreadable"}:
                continue
            if value:
                assert main_language(value) == language, f"{language}.{name}: {value}"


def test_the_page_has_every_word_in_both_languages() -> None:
    english = json.loads((WEB / "strings.en.json").read_text(encoding="utf-8"))
    chinese = json.loads((WEB / "strings.zh.json").read_text(encoding="utf-8"))
    assert english.keys() == chinese.keys()
    used = set(re.findall(r"\{\{(\w+)\}\}", (WEB / "index.html").read_text(encoding="utf-8")))
    used |= set(re.findall(r'\bt\("(\w+)"', (WEB / "app.js").read_text(encoding="utf-8")))
    assert used <= english.keys()
    assert all(is_chinese(chinese[key]) for key in used - {"lang"})


# -- heard, answered and spoken --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_dir() -> Path:
    path = Path(Config().paths.models_dir) / MULTILINGUAL_WHISPER
    assert (path / "model.bin").is_file(), "the multilingual whisper base is not assembled: run ./setup.sh"
    return path


@pytest.fixture(scope="module")
def either(base_dir: Path) -> WhisperTranscriber:
    """assistant.language = auto: English or Chinese, whichever whisper hears."""
    return WhisperTranscriber(base_dir, SttOptions(beam_size=5, language="auto"))


def _voices() -> list[tuple[str, object]]:
    voices: list[tuple[str, object]] = [("espeak-ng Mandarin", MandarinFallback())]
    pulled = Path(Config().paths.voices_dir) / f"{CHINESE_VOICE}.onnx"
    if pulled.is_file():
        voices.append((CHINESE_VOICE, PiperSynthesizer(pulled)))
    return voices


@pytest.fixture(scope="module", params=_voices(), ids=lambda voice: voice[0])
def say_in_chinese(request: pytest.FixtureRequest) -> Callable[[str], AudioClip]:
    """say(text) -> the text spoken in Mandarin, at 16 kHz, with silence around it."""
    voice = request.param[1]

    def say(text: str) -> AudioClip:
        speech = np.concatenate([chunk.samples for chunk in voice.synthesize(text)])
        speech = resample(speech, voice.sample_rate, 16_000)
        pad = np.zeros(4_000, np.float32)
        return AudioClip(np.concatenate([pad, speech, pad, pad]), 16_000)

    return say


def test_auto_hears_chinese_in_simplified_characters_and_english_as_english(
    either: WhisperTranscriber, say_in_chinese: Callable[[str], AudioClip], question_wav: Path
) -> None:
    heard = either.transcribe(say_in_chinese("上面写的什么？"))
    assert heard.language == "zh" and is_chinese(heard.text)
    assert simplified(heard.text) == heard.text
    english = read_wav(question_wav)
    heard = either.transcribe(AudioClip(resample(english.samples, english.sample_rate, 16_000), 16_000))
    assert heard.language == "en" and normalise(heard.text) == "what is in front of me"


@pytest.fixture(scope="module")
def chinese_config(stack_config: Config, base_dir: Path) -> Config:
    return stack_config.with_overrides({"stt.whisper": str(base_dir), "assistant.language": "auto"})


@pytest.fixture(scope="module")
def price_list(tmp_path_factory: pytest.TempPathFactory) -> Path:
    font = cjk_font_path()
    assert font is not None, "no CJK font: ./setup.sh installs fonts-wqy-microhei"
    pieces = [(f"{item} {price}", 200, 150 + row * 100) for row, (item, price) in enumerate(SHOP)]
    path = tmp_path_factory.mktemp("price-list") / "list.png"
    cv2.imwrite(str(path), render(pieces, 52, font_path=font))
    return path


def _picture(path: Path) -> Frame:
    return ImageFileSource(path).grab()


def _answer_heard(either: WhisperTranscriber, folder: Path) -> tuple[AudioClip, str, str]:
    """The newest answer WAV, and what whisper hears in it."""
    newest = max(folder.glob("*.wav"), key=lambda path: path.stat().st_mtime_ns)
    clip = read_wav(newest)
    heard = either.transcribe(AudioClip(resample(clip.samples, clip.sample_rate, 16_000), 16_000))
    return clip, heard.language, heard.text


@pytest.mark.slow
def test_spoken_chinese_is_routed_answered_and_spoken_in_chinese(
    chinese_config: Config,
    either: WhisperTranscriber,
    say_in_chinese: Callable[[str], AudioClip],
    price_list: Path,
    tmp_path: Path,
) -> None:
    """A reading question is read from the picture; 再说一遍 and 新对话 are commands; every answer is Chinese
    speech: not silence, and heard back as Chinese."""
    out = tmp_path / "answers"
    session = make_session(chinese_config, WavFileSink(out), lambda kind, text: None)
    assert isinstance(session.engine.synthesizer, VoicesByLanguage)
    try:
        frame = _picture(price_list)
        turn = session.answer_recording(say_in_chinese("上面写的什么？"), frame)
        assert turn.error is None and is_chinese(turn.transcript)
        assert turn.route == "read"
        assert all(item in turn.answer for item, _ in SHOP), turn.answer
        clip, language, heard = _answer_heard(either, out)
        assert clip.duration_s > 1.0 and np.sqrt(np.mean(clip.samples**2)) > 0.01, "the answer is not silent"
        assert language == "zh" and is_chinese(heard), f"the answer was heard as {language}: {heard}"

        again = session.answer_recording(say_in_chinese("再说一遍"), frame)
        assert again.command == "repeat"
        assert again.answer and turn.answer.endswith(again.answer)  # the answer again, without "I heard: …"

        fresh = session.answer_recording(say_in_chinese("新对话"), frame)
        assert fresh.command == "new_conversation"
        assert fresh.answer == BOOKS["zh"].new_conversation
        assert session.conversation.exchanges == []
    finally:
        session.engine.close()


def _turn_user_texts(turn: Turn) -> list[str]:
    texts = []
    for message in turn.messages or []:
        if message["role"] != "user":
            continue
        content = message["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        texts += [part["text"] for part in parts if part.get("type") == "text"]
    return texts


@pytest.mark.slow
def test_the_write_ups_three_chinese_examples(chinese_config: Config, price_list: Path, tmp_path: Path) -> None:
    """The model is asked to describe the picture and told to answer in Chinese; the price list comes as JSON; the
    follow-up about the fur asks about the picture before, which is in the model's memory."""
    session = make_session(chinese_config, WavFileSink(tmp_path / "answers"), lambda kind, text: None)
    try:
        frame = _picture(price_list)
        described = session.answer_text("请用中文描述这张图片", frame)
        assert described.error is None and described.preset == "describe"
        assert any(BOOKS["zh"].answer_in in text for text in _turn_user_texts(described))

        listed = session.answer_text("请列出表格中的三项产品名称及其价格。", frame)
        assert listed.error is None and listed.route == "document"
        assert listed.document == [{"名称": item, "价格": price} for item, price in SHOP]
        assert is_chinese(listed.answer)

        follow_up = session.answer_text("它的毛色呢？", None)
        assert follow_up.error is None
        asked_before = _turn_user_texts(follow_up)
        assert any("请用中文描述这张图片" in text for text in asked_before)
        assert any("它的毛色呢" in text for text in asked_before)
    finally:
        session.engine.close()


# -- the service -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(chinese_config: Config) -> Iterator[TestClient]:
    with running_service(chinese_config) as service:
        yield TestClient(create_app(service))


@pytest.fixture(scope="module")
def no_model_client(chinese_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    empty = tmp_path_factory.mktemp("no-models")
    config = chinese_config.with_overrides({"vlm.model": "", "vlm.mmproj": "", "paths.models_dir": str(empty)})
    with running_service(config) as service:
        yield TestClient(create_app(service))


def _jpeg(path: Path) -> str:
    ok, data = cv2.imencode(".jpg", cv2.imread(str(path)))
    assert ok
    return base64.b64encode(data.tobytes()).decode()


@pytest.mark.slow
def test_infer_answers_a_chinese_prompt_in_chinese_without_the_model(
    no_model_client: TestClient, price_list: Path
) -> None:
    reply = no_model_client.post("/infer", json={"prompt": "请用中文描述这张图片", "image_base64": _jpeg(price_list)})
    assert reply.status_code == 200
    text = reply.json()["text"]
    assert main_language(text) == "zh", text
    assert BOOKS["zh"].needs_vision_model in text


@pytest.mark.slow
def test_chinese_prompts_get_chinese_errors(client: TestClient, price_list: Path) -> None:
    no_picture = client.post("/infer", json={"prompt": "请用中文描述这张图片"})
    assert no_picture.status_code == 422
    assert no_picture.json()["error"] == BOOKS["zh"].no_picture_given
    bad_picture = client.post("/infer", json={"prompt": "这是什么？", "image_base64": "aGVsbG8="})
    assert bad_picture.status_code == 400
    assert bad_picture.json()["error"] == BOOKS["zh"].error_by_code["bad_input"]
    asked = client.post("/api/ask", data={"text": "这是什么？"}, files={"image": ("x.jpg", b"not a picture")})
    assert asked.status_code == 400
    assert is_chinese(asked.json()["error"])
    english = client.post("/infer", json={"prompt": "What is this?", "image_base64": "aGVsbG8="})
    assert not is_chinese(english.json()["error"])
    preferred = client.post("/infer", content=b"{", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert is_chinese(preferred.json()["error"])


@pytest.mark.slow
def test_api_ask_answers_a_chinese_command_in_chinese(client: TestClient) -> None:
    reply = client.post("/api/ask", data={"text": "再说一遍"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["command"] == "repeat"
    assert body["answer"] == BOOKS["zh"].nothing_said_yet
