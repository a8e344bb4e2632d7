"""Local voice commands, recognised without the vision model, in English and Chinese.

A command must be the whole utterance, give or take polite words ("please", "can you"), and is matched
fuzzily so that whisper's punctuation, case and small mishearings do not matter. Anything longer is a
question: "can you repeat the label?" goes to the model, "repeat, please" does not."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    phrases: tuple[str, ...]
    summary: str
    """How `help` describes it."""


COMMANDS = (
    Command("repeat", ("repeat", "say that again", "say it again", "again", "重复", "再说一遍", "再说一次"), "repeat"),
    Command("stop", ("stop", "be quiet", "quiet", "停", "停止", "别说了"), "stop"),
    Command("slower", ("slower", "speak slower", "slow down", "talk slower", "慢一点", "说慢一点", "慢点"), "slower"),
    Command("faster", ("faster", "speak faster", "speed up", "talk faster", "快一点", "说快一点", "快点"), "faster"),
    Command(
        "more_detail",
        ("more detail", "more details", "tell me more", "in more detail", "详细一点", "详细点", "说详细一点"),
        "more detail",
    ),
    Command("brief", ("shorter", "brief", "be brief", "shorter answers", "简短一点", "简单点", "短一点"), "shorter"),
    Command(
        "new_conversation",
        ("new conversation", "forget that", "forget it", "start over", "reset", "新对话", "忘记", "重新开始"),
        "new conversation",
    ),
    Command("light", ("light", "light mode", "light detector", "光线", "光线模式", "测光"), "light"),
    Command(
        "live_text",
        ("read live", "live text", "live reading", "read as you go", "keep reading", "实时朗读", "实时读", "连续朗读"),
        "read live",
    ),
    Command("save_settings", ("save settings", "remember this speed", "save my settings", "保存设置"), "save settings"),
    Command("help", ("help", "what can i say", "commands", "帮助", "我能说什么"), "help"),
)

HOTWORDS = "repeat, stop, slower, faster, more detail, shorter, new conversation, light, read live, save settings, help"
"""Biases whisper towards the command words, which a small model easily mishears when said alone."""

_POLITE = re.compile(
    r"^(?:(?:ok(?:ay)?|hey|um+|uh+|so|now|please|can you|could you|would you|will you|just)\s+)+"
    r"|(?:\s+(?:please|now|thanks|thank you))+$"
)
_POLITE_ZH = re.compile(r"^(?:请|麻烦|你)+|(?:吧|啊|呀|好吗|谢谢)+$")
_THRESHOLD = 0.84


def normalise(text: str) -> str:
    text = re.sub(r"[^\w\s]", " ", text.lower())
    text = " ".join(text.split())
    text = _POLITE.sub("", text).strip()
    return _POLITE_ZH.sub("", text).strip()


def match(text: str) -> str | None:
    """The command `text` says, or None if it is anything else."""
    spoken = normalise(text)
    if not spoken or len(spoken.split()) > 5:
        return None
    best, best_score = None, 0.0
    for command in COMMANDS:
        for phrase in command.phrases:
            score = difflib.SequenceMatcher(None, spoken, phrase).ratio()
            if score > best_score:
                best, best_score = command.name, score
    return best if best_score >= _THRESHOLD else None


HELP = (
    "You can ask me anything about what the camera sees. You can also say: "
    + ", ".join(command.summary for command in COMMANDS)
    + "."
)
