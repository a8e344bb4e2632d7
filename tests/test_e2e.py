"""Whole turns through the real stack: Piper speaks the question, whisper hears it, OpenCV decodes the video,
the tiny VLM answers, Piper speaks the answer into a WAV. Only the microphone, camera and speaker are files."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import asked, by_model, normalise, read_wav, text_of

from assistant.cli.factory import make_session
from assistant.cli.main import main
from assistant.cli.runner import DiscardSink
from assistant.config import Config
from assistant.core.phrases import BOOKS
from assistant.core.turn import ImageBudgets
from assistant.see.camera import ImageFileSource
from tools.tiny_vlm import FAMILIES, TinyVLMPair

pytestmark = pytest.mark.slow

TIMINGS = {"record", "stt", "frame", "vlm_first_token", "vlm_total", "tts_first_chunk", "tts_total", "first_audio"}
LOG_KEYS = {"transcript", "answer", "preset", "error", "image_sha256", "image_size", "messages", "timings_ms"}


def _flags(config: Config, pair: TinyVLMPair | None = None) -> list[str]:
    """The test config as the command-line flags a user would type, plus a config file for the rest."""
    model, mmproj = (str(pair.model), str(pair.mmproj)) if pair else (config.vlm.model, config.vlm.mmproj)
    return ["--model", model, "--mmproj", mmproj, "--whisper", config.stt.whisper]


def _run(config_file: Path, args: list[str]) -> int:
    return main(["run", "--config", str(config_file), *args])


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _assert_speech(path: Path) -> None:
    clip = read_wav(path)
    assert clip.sample_rate == 22050
    assert clip.duration_s > 0.3
    assert np.sqrt(np.mean(clip.samples**2)) > 0.01, "the answer is not silent"


@pytest.mark.parametrize("family", ["qwen2.5-vl", "lfm2-vl"])
def test_a_spoken_question_about_a_video_frame_is_answered_aloud(
    family: str,
    tiny_pairs: dict[str, TinyVLMPair],
    tmp_path: Path,
    config: Config,
    config_file: Path,
    question_wav: Path,
    video_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "turns.jsonl"
    out = tmp_path / "answers"
    code = _run(
        config_file,
        [*_flags(config, tiny_pairs[family]), "--audio-in", str(question_wav), "--camera", str(video_file)]
        + ["--audio-out", str(out), "--log-turns", str(log)],
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "You asked: What is in front of me?" in printed
    assert "Sorry" not in printed
    [turn] = _log(log)
    assert set(turn) >= LOG_KEYS
    assert normalise(turn["transcript"]) == "what is in front of me"
    assert turn["error"] is None
    assert turn["answer"]
    assert turn["preset"] == "describe"
    width, height = turn["image_size"]  # the 320 x 240 frame within the first-look budget, whole tokens a side
    assert width < 320 and height < 240
    # LFM2's encoder takes no fewer than 64 tokens (clip.cpp): it scales a smaller picture up, keeping its shape
    ceiling = ImageBudgets().first_look if family != "lfm2-vl" else 2 * 64
    assert 0 < turn["image_tokens"] <= ceiling
    assert len(turn["image_sha256"]) == 64
    assert set(turn["timings_ms"]) >= TIMINGS
    assert all(value >= 0 for value in turn["timings_ms"].values())
    user = turn["messages"][-1]
    assert user["content"][0]["image_url"]["url"] == f"<image {turn['image_sha256']}>", "no pixels in the log"
    _assert_speech(out / "answer-001.wav")


@pytest.mark.parametrize("family", ["qwen2.5-vl", "lfm2-vl"])
def test_two_turns_remember_the_first_and_send_only_the_newest_image(
    family: str,
    tiny_pairs: dict[str, TinyVLMPair],
    tmp_path: Path,
    config: Config,
    config_file: Path,
    speak: Callable[..., Path],
    question_wav: Path,
    video_file: Path,
) -> None:
    log = tmp_path / "turns.jsonl"
    follow_up = speak("Is it the blue one?", "follow-up.wav")
    _run(
        config_file,
        [*_flags(config, tiny_pairs[family]), "--audio-in", str(question_wav), str(follow_up)]
        + ["--camera", str(video_file)]
        + ["--audio-out", str(tmp_path / "answers"), "--log-turns", str(log)],
    )
    first, second = _log(log)
    assert first["error"] is None and second["error"] is None
    assert first["image_sha256"] != second["image_sha256"], "each press grabs a new frame"
    messages = second["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert asked(messages[1]["content"]) == first["transcript"]
    assert messages[2]["content"] == by_model(first["answer"], first["instant"])
    images = [p for m in messages if isinstance(m["content"], list) for p in m["content"] if p["type"] == "image_url"]
    assert [p["image_url"]["url"] for p in images] == [f"<image {second['image_sha256']}>"]
    assert sorted(p.name for p in (tmp_path / "answers").iterdir()) == ["answer-001.wav", "answer-002.wav"]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_answers_a_typed_question_about_an_image(
    family: str,
    tmp_path: Path,
    config_file: Path,
    tiny_pairs: dict[str, TinyVLMPair],
    image_file: Path,
    whisper_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pair = tiny_pairs[family]
    out = tmp_path / "answer.wav"
    code = main(
        ["ask", "--config", str(config_file), "--model", str(pair.model), "--mmproj", str(pair.mmproj)]
        + ["--text", "Is it the blue one?", "--image", str(image_file), "--out", str(out)]
    )
    assert code == 0
    assert "You asked: Is it the blue one?" in capsys.readouterr().out
    _assert_speech(out)


def test_without_a_vision_model_it_says_what_it_knows_and_how_to_add_one(
    tmp_path: Path, config_file: Path, question_wav: Path, video_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "turns.jsonl"
    code = _run(
        config_file,
        ["--audio-in", str(question_wav), str(question_wav), "--camera", str(video_file)]
        + ["--audio-out", str(tmp_path / "answers"), "--log-turns", str(log)],
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.count("You asked: What is in front of me?") == 2, "the loop goes on"
    assert printed.count("I can read: EXIT") == 2, "the sign in each frame is read"
    assert "A full description needs the vision model" in printed
    assert "assistant models pull" in printed
    turns = _log(log)
    assert [t["messages"] for t in turns] == [[], []], "no VLM call"
    assert [t["error"] for t in turns] == [None, None]
    assert all(t["text_read"].startswith("EXIT") for t in turns)
    for wav in sorted((tmp_path / "answers").iterdir()):
        _assert_speech(wav)


def test_silence_is_not_a_question_and_the_loop_goes_on(
    tmp_path: Path,
    config: Config,
    config_file: Path,
    silent_wav: Path,
    question_wav: Path,
    video_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = tmp_path / "turns.jsonl"
    _run(
        config_file,
        [*_flags(config), "--audio-in", str(silent_wav), str(question_wav), "--camera", str(video_file)]
        + ["--audio-out", str(tmp_path / "answers"), "--log-turns", str(log)],
    )
    assert "Sorry: I didn't hear a question." in capsys.readouterr().out
    silent, spoken = _log(log)
    assert silent["error"] == "I didn't hear a question."
    assert silent["messages"] == [] and silent["preset"] is None, "no VLM call"
    assert spoken["error"] is None
    assert [m["role"] for m in spoken["messages"]] == ["system", "user"], "the silent press left no trace"
    _assert_speech(tmp_path / "answers" / "answer-001.wav")


def test_a_wav_that_is_not_audio_is_a_spoken_error_and_the_loop_goes_on(
    tmp_path: Path,
    config: Config,
    config_file: Path,
    question_wav: Path,
    video_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bogus = tmp_path / "bogus.wav"
    bogus.write_text("RIFF? no, just text")
    answers = tmp_path / "answers"
    code = _run(
        config_file,
        [*_flags(config), "--audio-in", str(bogus), str(question_wav), "--camera", str(video_file)]
        + ["--audio-out", str(answers)],
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "I can't read the sound file bogus.wav: it is not audio I understand." in printed
    assert "You asked: What is in front of me?" in printed
    assert "Traceback" not in printed
    assert len(list(answers.iterdir())) == 2, "the error was spoken, then the question answered"


def test_without_a_camera_it_answers_voice_only_and_says_when_sight_is_needed(
    tmp_path: Path, config: Config, config_file: Path, question_wav: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "turns.jsonl"
    code = _run(
        config_file,
        [*_flags(config), "--audio-in", str(question_wav), "--camera", "57"]
        + ["--audio-out", str(tmp_path / "answers"), "--log-turns", str(log)],
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "camera 57 is not connected" in printed
    assert "I will answer without the camera" in printed
    [turn] = _log(log)
    assert "camera 57 is not connected" in turn["error"]
    assert turn["messages"] == []


def test_a_damaged_model_is_named_with_its_fix_and_the_loop_goes_on(
    tmp_path: Path,
    config: Config,
    config_file: Path,
    question_wav: Path,
    video_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(100))
    code = _run(
        config_file,
        ["--model", str(broken), "--mmproj", config.vlm.mmproj, "--audio-in", str(question_wav), str(question_wav)]
        + ["--camera", str(video_file), "--audio-out", str(tmp_path / "answers")],
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.count("broken.gguf is damaged or not a GGUF file") == 3, "at start, then once per question"
    assert "assistant models pull" in printed


@pytest.mark.parametrize(
    ("flag", "make", "message"),
    [
        ("--whisper", lambda p: p / "no-whisper", "speech model folder .*no-whisper is missing"),
        ("--voice", lambda p: p / "nobody.onnx", "voice file .*nobody.onnx is missing"),
    ],
)
def test_a_missing_speech_model_or_voice_stops_with_its_fix(
    tmp_path: Path,
    config_file: Path,
    question_wav: Path,
    flag: str,
    make: Callable[[Path], Path],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    code = _run(
        config_file,
        [flag, str(make(tmp_path)), "--audio-in", str(question_wav), "--audio-out", str(tmp_path / "a")],
    )
    assert code == 1
    printed = capsys.readouterr().out
    assert re.search(message, printed)
    assert "./setup.sh" in printed


def test_an_unreadable_image_is_a_clear_error(
    tmp_path: Path, config: Config, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"\xff\xd8 not really a jpeg")
    code = main(
        ["ask", "--config", str(config_file), *_flags(config), "--text", "What is this?"]
        + ["--image", str(image), "--out", str(tmp_path / "a.wav")]
    )
    assert code == 1
    assert "I can't read the picture photo.jpg: it is not an image I understand." in capsys.readouterr().out
    _assert_speech(tmp_path / "a.wav")


def test_a_colour_follow_up_goes_to_the_model_with_the_conversation_and_the_measured_colour(
    tmp_path: Path, config: Config, config_file: Path, speak: Callable[..., Path], video_file: Path
) -> None:
    log = tmp_path / "turns.jsonl"
    first_wav, colour_wav = speak("What is in front of me?"), speak("What color is it?")
    _run(
        config_file,
        [*_flags(config), "--audio-in", str(first_wav), str(colour_wav), "--camera", str(video_file)]
        + ["--audio-out", str(tmp_path / "answers"), "--log-turns", str(log)],
    )
    first, second = _log(log)
    assert first["error"] is None and second["error"] is None
    assert second["route"] == "colour" and second["preset"] is not None, "the model answered"
    messages = second["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert asked(messages[1]["content"]) == first["transcript"]
    assert messages[2]["content"] == by_model(first["answer"], first["instant"])
    assert text_of(messages[3]).startswith(second["transcript"] + "\n\nMeasured colour in the middle of the picture: ")


def test_a_chinese_colour_follow_up_goes_to_the_model_too(config: Config, image_file: Path) -> None:
    session = make_session(config, DiscardSink(), lambda kind, text: None)
    try:
        frame = ImageFileSource(image_file).grab()
        first = session.answer_text("我前面有什么？", frame)
        second = session.answer_text("它是什么颜色？", frame)
    finally:
        session.engine.close()
    assert first.error is None and second.error is None and second.preset is not None
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "user"]
    assert asked(text_of(second.messages[1])) == f"我前面有什么？ {BOOKS['zh'].answer_in}"  # told to answer in Chinese
    assert second.messages[2]["content"] == by_model(first.answer, first.instant)
    assert "画面中间测得的颜色：" in text_of(second.messages[3])
