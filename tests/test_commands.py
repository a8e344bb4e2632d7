"""Local voice commands: spoken by Piper, heard by real whisper, acted on without the vision model."""

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.cli.factory import make_session
from assistant.cli.loop import PushToTalkLoop
from assistant.config import Config, save_setting
from assistant.core.commands import match
from assistant.core.phrases import BOOKS
from assistant.hear.audio import WavFileSource
from assistant.hear.keys import ScriptedKeys
from assistant.see.camera import VideoFileSource
from assistant.speak.sinks import WavFileSink


@pytest.mark.parametrize(
    ("heard", "command"),
    [
        ("Repeat.", "repeat"),
        ("repeat,", "repeat"),
        ("Say that again?", "repeat"),
        ("Could you say that again, please?", "repeat"),
        ("Stop!", "stop"),
        ("Slower.", "slower"),
        ("Speak faster, please.", "faster"),
        ("More detail.", "more_detail"),
        ("Tell me more.", "more_detail"),
        ("Shorter.", "brief"),
        ("New conversation.", "new_conversation"),
        ("Forget that.", "new_conversation"),
        ("Help.", "help"),
        ("What can I say?", "help"),
        ("Save settings.", "save_settings"),
        ("再说一遍。", "repeat"),
        ("请说慢一点。", "slower"),
        ("快一点吧", "faster"),
        ("详细一点", "more_detail"),
        ("新对话", "new_conversation"),
        ("我能说什么？", "help"),
        ("停！", "stop"),
    ],
)
def test_commands_are_recognised_through_punctuation_case_and_politeness(heard: str, command: str) -> None:
    assert match(heard) == command


@pytest.mark.parametrize(
    "question",
    [
        "Can you repeat the label?",
        "Is the stop sign red?",
        "Stop sign.",
        "Is it faster than the bus?",
        "Where is the help desk?",
        "Helpful?",
        "Tell me more about the sign.",
        "Shorts.",
        "What is in front of me?",
        "Is it the blue one?",
        "More.",
        "这个标签写了什么？",
        "前面有什么？",
    ],
)
def test_ordinary_questions_are_never_commands(question: str) -> None:
    assert match(question) is None


def test_saving_a_setting_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# mine\n[tts]\nvoice = 'a.onnx'\nspeech_rate = 1.0\n\n[vlm]\nn_ctx = 2048\n")
    save_setting(path, "tts", "speech_rate", 1.25)
    assert path.read_text().startswith("# mine\n")
    assert tomllib.loads(path.read_text()) == {"tts": {"voice": "a.onnx", "speech_rate": 1.25}, "vlm": {"n_ctx": 2048}}
    fresh = tmp_path / "new" / "config.toml"
    save_setting(fresh, "tts", "speech_rate", 0.75)
    assert tomllib.loads(fresh.read_text()) == {"tts": {"speech_rate": 0.75}}


@pytest.mark.slow
def test_every_command_through_the_real_loop(
    tmp_path: Path, config: Config, speak: Callable[..., Path], video_file: Path
) -> None:
    said = [
        "What is in front of me?",
        "Repeat.",
        "Slower.",
        "Faster.",
        "Faster.",
        "More detail.",
        "Shorter.",
        "Help.",
        "Stop.",
        "Save settings.",
        "New conversation.",
    ]
    wavs = [speak(text, f"said-{index}.wav") for index, text in enumerate(said)]
    log, settings = tmp_path / "turns.jsonl", tmp_path / "settings.toml"
    sink = WavFileSink(tmp_path / "answers")
    assistant = make_session(config.with_overrides({"log.turns": str(log)}), sink, lambda k, t: None, settings)
    try:
        keys = ScriptedKeys([" ", " "] * len(wavs))
        PushToTalkLoop(assistant, WavFileSource(wavs), VideoFileSource(video_file), keys, lambda line: None).run()
        rate, brief, history = (
            assistant.settings.speech_rate,
            assistant.settings.detail == "brief",
            assistant.conversation.exchanges,
        )
    finally:
        assistant.engine.close()
    turns = {index: json.loads(line) for index, line in enumerate(log.read_text().splitlines())}
    assert [turns[i]["command"] for i in range(len(said))] == [
        None,
        "repeat",
        "slower",
        "faster",
        "faster",
        "more_detail",
        "brief",
        "help",
        "stop",
        "save_settings",
        "new_conversation",
    ]
    assert all(turn["error"] is None for turn in turns.values())
    question = turns[0]
    assert turns[1]["answer"] == question["answer"], "repeat says the last answer again"
    assert [turns[i]["answer"] for i in (2, 3, 4)] == ["Slower.", "Faster.", "Faster."]
    assert rate == 1.25
    detail = turns[5]
    assert detail["preset"] == "describe"
    asked = detail["messages"][-1]["content"]
    assert asked[-1] == {"type": "text", "text": BOOKS["en"].more_detail_question}
    images = [p for m in detail["messages"] if isinstance(m["content"], list) for p in m["content"] if "image_url" in p]
    assert images == [{"type": "image_url", "image_url": {"url": f"<image {detail['image_sha256']}>"}}], "one picture"
    # the same camera picture again, at the detail budget: more image tokens than the first look
    assert detail["image_sha256"] != question["image_sha256"]
    assert detail["image_tokens"] > question["image_tokens"]
    assert detail["image_size"][0] > question["image_size"][0]
    assert brief and turns[6]["answer"] == "I will keep my answers short."
    assert turns[7]["answer"] == BOOKS["en"].help
    assert turns[8]["answer"] == "Stopped."
    assert tomllib.loads(settings.read_text()) == {"tts": {"speech_rate": 1.25}}
    assert history == [], "a new conversation forgets"
    for index, turn in turns.items():
        if index not in (0, 5):
            assert turn["messages"] == [] and turn["preset"] is None, f"turn {index} did not call the model"
    assert len(sink.written) == len(said), "every command was answered aloud"
