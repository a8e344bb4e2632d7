"""Text for the ear: sentence splitting and cleaning. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from assistant.core.phrases import for_text

_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "etc", "e.g", "i.e", "no", "approx", "prof", "jr", "sr"}
_SENTENCE_END = re.compile(r"([.!?。！？]+)([\"')\]」』”）]*)(\s*)")
_CJK_END = set("。！？")
_MARKDOWN = [
    (re.compile(r"```.*?```", re.S), " "),
    (re.compile(r"`([^`]*)`"), r"\1"),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"https?://\S+|www\.\S+"), " "),
    (re.compile(r"^\s{0,3}#{1,6}\s*", re.M), ""),
    (re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+", re.M), ""),
    (re.compile(r"(\*\*|__|\*|_|~~)(\S.*?\S|\S)\1"), r"\2"),
    (re.compile(r"[*#>|]+"), " "),
]
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f\u200d]")
_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
LONGEST_PIECE = 80
"""A voice is given at most this many characters at once: Piper's working memory grows with what it is given, about
1 MB a character (40 MB for 40 characters, 160 MB for 160, 338 MB for 300), and a long sentence would hold it."""
_SPACES = re.compile(r"[ \t]*\n[ \t\n]*|[ \t]{2,}")


def clean_for_speech(text: str) -> str:
    """Drop what should not be read aloud: terminal codes, control characters, markdown marks, bullets, links,
    emoji."""
    text = _CONTROL.sub(" ", _TERMINAL_CODES.sub("", text))
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    text = _EMOJI.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    mark = match.group(1)
    if mark != ".":
        return True
    word = re.search(r"([\w.]+)$", text[: match.start(1)])
    if word is None:
        return True
    previous = word.group(1).lower()
    # An abbreviation ("Dr.", "No.") or an initial ("J.") does not end a sentence.
    return previous not in _ABBREVIATIONS and not (len(previous) == 1 and previous.isalpha())


def split_sentences(text: str) -> list[str]:
    """Whole sentences of `text`; a final fragment without punctuation is a sentence too."""
    sentences, rest = _take_sentences(text)
    if rest.strip():
        sentences.append(rest.strip())
    return sentences


def _take_sentences(text: str) -> tuple[list[str], str]:
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        cjk = match.group(1)[-1] in _CJK_END
        if not cjk and not match.group(3):
            if match.end() == len(text):
                break  # a mark at the very end may still grow ("3." then "5"): wait for more text
            continue  # "3.5", "e.g.x": no space, no boundary
        if cjk or _ends_sentence(text, match):
            sentence = text[start : match.end()].strip()
            if sentence:
                sentences.append(sentence)
            start = match.end()
    return sentences, text[start:]


MAX_SPOKEN_CHARS = 160
"""A run-on longer than this is spoken in parts, cut after a comma or a space, so speech starts sooner."""


def _cut_run_on(buffer: str) -> tuple[str, str]:
    """Split an over-long buffer at its last clause break (else last space) within the limit."""
    head = buffer[:MAX_SPOKEN_CHARS]
    commas = [m.end() for m in re.finditer(r"[,;:，；：]\s?", head)]
    spaces = [m.end() for m in re.finditer(r"\s", head)]
    cut = (commas or spaces or [MAX_SPOKEN_CHARS])[-1]
    return buffer[:cut].strip(), buffer[cut:]


def sentences(pieces: Iterable[str]) -> Iterator[str]:
    """Yield each sentence as soon as it is complete in a stream of text pieces."""
    buffer = ""
    for piece in pieces:
        buffer += piece
        done, buffer = _take_sentences(buffer)
        yield from done
        while len(buffer) > MAX_SPOKEN_CHARS:
            part, buffer = _cut_run_on(buffer)
            if part:
                yield part
    if buffer.strip():
        yield from split_sentences(buffer)


def lines_for_speech(text: str) -> str:
    """Each line ends in a pause when spoken, as a sign's lines would be read; the words stay as written."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(line if line[-1] in ".!?。！？:：" else line + for_text(line).sentence_end for line in lines)


def pieces_for_voice(text: str, longest: int = LONGEST_PIECE) -> list[str]:
    """The text in pieces of at most `longest` characters, parted after a sentence's end where there is one, else
    after a comma or a semicolon, else between words."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > longest:
        window = rest[:longest]
        cut = max((window.rfind(mark) for mark in (". ", "! ", "? ", "。", "！", "？")), default=-1)
        if cut <= 0:
            cut = max(window.rfind(", "), window.rfind("; "), window.rfind("，"), window.rfind("；"))
        if cut <= 0:
            cut = window.rfind(" ")
        cut = cut + 1 if cut > 0 else longest
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return [*pieces, rest] if rest else pieces
