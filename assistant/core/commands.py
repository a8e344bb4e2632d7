"""Local voice commands, recognised without the vision model, in English and Chinese.

A command must be the whole utterance, give or take polite words ("please", "can you"). It is found in the
transcript, matched fuzzily so that whisper's punctuation, case and small mishearings do not matter; and when the
transcript is not one, in the sound itself (`by_sound`), since a small model mishears a short command said in a
voice unlike its training ("say that again" as "save my gun"). Anything longer is a question: "can you repeat the
label?" goes to the model, "repeat, please" does not."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import inf

from assistant.core.routing import is_chinese
from assistant.core.types import Fit, Transcript


@dataclass(frozen=True)
class Command:
    name: str
    phrases: tuple[str, ...]
    summary: str
    """How `help` describes it."""


COMMANDS = (
    Command(
        "repeat",
        ("repeat", "repeat that", "say that again", "say it again", "again", "重复", "再说一遍", "再说一次"),
        "repeat",
    ),
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
        (
            "new conversation",
            "forget that",
            "forget it",
            "start over",
            "reset",
            "新对话",
            "开始新对话",
            "忘记",
            "重新开始",
        ),
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
_POLITE_ZH = re.compile(r"^(?:请|麻烦|你|您|我们|能不能|可以|帮我)+|(?:吧|啊|呀|吗|好吗|行吗|可以吗|谢谢)+$")
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


Score = Callable[[Sequence[str]], "list[Fit] | None"]
"""score(texts): how well each text fits the recorded speech, as whisper's log-probability of its tokens and of its
ending there; None when the speech cannot be scored."""

LONGEST_S = 3.0
"""Speech longer than this is not scored against the commands: it is a question."""
FIT = 12.0
"""A command must fit the sound within this many nats of what whisper wrote..."""
MARGIN = 2.0
"""...and this many better than any other command..."""
TOKEN_BONUS = 2.0
"""...each counted with this many nats for every token it has, for a short phrase ("Again.") has fewer tokens to
pay for and would otherwise fit any short sound best."""
SECONDS_PER_SYLLABLE = 0.25
SECONDS_BESIDES = 1.0
"""The phrase that fits best must be long enough for the speech: said in at most this long and this long a
syllable, so that a question that begins or ends like a command ("is there a stop sign ahead?") is not taken
for it. These five are set by benchmarks/hearing.py as among the loosest that made no question a command, on seven
voices in clean speech, white noise at 10 dB SNR and babble at 10 and 5 dB."""
SECONDS_PER_CHINESE_SYLLABLE = 0.4
"""A Chinese syllable, a whole character with its tone, is given longer: "再说一遍" said slowly takes two seconds."""
FIT_ZH = 12.0
MARGIN_ZH = 3.0
LEAST_FIT_PER_SYLLABLE_ZH = -6.0
"""In Chinese a phrase's tokens must also fit at least this well for each of its syllables (and its full stop).
The three are set by benchmarks/hearing_zh.py as among the rules that handled the most commands with no question
taken for one, on three voices in clean speech, white and babble noise."""


def by_sound(transcript: Transcript, score: Score) -> str | None:
    """The command the speech says, when its transcript is not one: whisper's decoder reads every command phrase
    in the transcript's language against the sound, alone and with the polite words heard around it. The phrase
    that fits best must fit nearly as well as the transcript itself, clearly better than every other command's,
    and be long enough for the speech; and the transcript must not be that phrase and more."""
    if not transcript.text or transcript.speech_s > LONGEST_S:
        return None
    if is_chinese(transcript.text) or transcript.language == "zh":
        return _chinese_by_sound(transcript, score)
    before, after = _polite_words(transcript.text)
    phrases = [(c.name, phrase) for c in COMMANDS for phrase in c.phrases if not is_chinese(phrase)]
    candidates = [(name, _as_said(phrase)) for name, phrase in phrases]
    if before or after:
        candidates += [(name, _as_said(phrase, before, after)) for name, phrase in phrases]
    if transcript.speech_s > max(_said_in(said) for _, said in candidates):
        return None  # too long for every phrase: a question, known without scoring
    fits = score([*(said for _, said in candidates), transcript.text])
    if fits is None:
        return None
    heard = _with_bonus(fits.pop())
    fit, name, said, runner_up = _best([_with_bonus(f) for f in fits], candidates)
    if _goes_on(transcript.text, normalise(said)):
        return None
    return name if fit >= heard - FIT and fit - runner_up >= MARGIN and transcript.speech_s <= _said_in(said) else None


def _said_in(said: str, per_syllable: float = SECONDS_PER_SYLLABLE) -> float:
    """The longest speech that a phrase, as said, can be."""
    return SECONDS_BESIDES + per_syllable * _syllables(said)


def _goes_on(heard: str, phrase: str) -> bool:
    """Whether what was heard begins with the phrase and goes on with two or more other words: a question that
    begins like a command ("can you tell me more about this letter?"), not a command misheard ("repeat not")."""
    words, phrase_words = normalise(heard).split(), phrase.split()
    return words[: len(phrase_words)] == phrase_words and len(set(words) - set(phrase_words)) >= 2


def _with_bonus(fit: Fit) -> float:
    """A fit with its ending and its tokens' bonus (TOKEN_BONUS)."""
    return fit.logprob + fit.end + TOKEN_BONUS * fit.tokens


def _chinese_by_sound(transcript: Transcript, score: Score) -> str | None:
    """As `by_sound`, in Chinese, where whisper writes a character for each syllable it hears, if not always the
    right one: only the phrases of as many syllables, give or take one, and long enough for the speech, compete (a
    one-character phrase, 停, would otherwise fit any sound well, having few tokens to pay for)."""
    heard_syllables = _syllables(normalise(transcript.text))
    named = [
        (c.name, phrase)
        for c in COMMANDS
        for phrase in c.phrases
        if is_chinese(phrase)
        and (heard_syllables == 0 or abs(heard_syllables - _syllables(phrase)) <= 1)
        and transcript.speech_s <= _said_in(phrase, SECONDS_PER_CHINESE_SYLLABLE)
    ]
    if not named:
        return None
    fits = score([*(f"{phrase}。" for _, phrase in named), transcript.text])
    if fits is None:
        return None
    heard = _with_bonus(fits.pop())
    fit, name, phrase, runner_up = _best([_with_bonus(f) for f in fits], named)
    tokens_fit = fits[named.index((name, phrase))].logprob
    fits_well = fit >= heard - FIT_ZH and tokens_fit >= LEAST_FIT_PER_SYLLABLE_ZH * (_syllables(phrase) + 1)
    return name if fits_well and fit - runner_up >= MARGIN_ZH else None


def _best(scores: list[float], named: list[tuple[str, str]]) -> tuple[float, str, str, float]:
    """The best fit, its command and phrase, and the best fit of any other command."""
    fit, (name, phrase) = max(zip(scores, named, strict=True))
    runner_up = max((other for other, (command, _) in zip(scores, named, strict=True) if command != name), default=-inf)
    return fit, name, phrase, runner_up


def _polite_words(text: str) -> tuple[str, str]:
    """The polite words that begin and end `text`, as normalise strips them: ("can you", "please")."""
    plain = " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
    before = after = ""
    for found in _POLITE.finditer(plain):
        if found.start() == 0:
            before = found.group().strip()
        else:
            after = found.group().strip()
    return before, after


def _as_said(phrase: str, before: str = "", after: str = "") -> str:
    """A phrase as whisper would write it: capitalised, with the polite words around it, and a full stop."""
    words = " ".join(part for part in (before, phrase) if part)
    sentence = words[:1].upper() + words[1:]
    return f"{sentence}, {after}." if after else f"{sentence}."


def _syllables(text: str) -> int:
    """Roughly: groups of vowels in English words, characters in Chinese."""
    chinese = sum(is_chinese(c) for c in text)
    return chinese + sum(
        max(1, len(re.findall(r"[aeiouy]+", word.rstrip("e")))) for word in re.findall(r"[a-z]+", text.lower())
    )
