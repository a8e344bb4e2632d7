"""Critical text in the model's answer, held against what OCR read: a price, a dose, a date, a number or a name
that was not read in the picture is one the model may have made up.

Numbers are compared by value ("$4.99" and "4.99", "03" and "3", "1,000" and "1000"), month names as their number
("3 May" against "03/05"), names (capitalised words within a sentence, words in capitals) by their letters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from assistant.core.phrases.book import Phrases


class Kind(StrEnum):
    MONEY = "money"
    DOSE = "dose"
    DATE = "date"
    NUMBER = "number"
    NAME = "name"


@dataclass(frozen=True)
class Critical:
    text: str
    """As the answer wrote it."""
    kind: Kind
    key: str
    """What is compared: a number's value, a month's number, a name in lower case."""


_MONTHS = (
    (
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ),
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
)
_CURRENCY = r"[$€£¥￥]|\b(?:usd|eur|gbp|rmb|cny)\b"
_MONEY_AFTER = r"\s?(?:[€£¥￥]|dollars?|euros?|pounds?|cents?|pence|yuan|元|块|角|美元|欧元|英镑)"
_DOSE_AFTER = (
    r"\s?(?:mg|mcg|µg|μg|g|kg|ml|mL|l|iu|IU|units?|tablets?|capsules?|pills?|drops?|puffs?|"
    r"毫克|微克|克|毫升|片|粒|颗|滴|袋)(?![A-Za-z])"
)
_NUMBER = r"\d{1,2}:\d{2}|\d+(?:[.,]\d+)*"
_NUMBERS = re.compile(
    rf"(?P<before>{_CURRENCY})?\s?(?P<number>{_NUMBER})(?P<money>{_MONEY_AFTER})?(?P<dose>{_DOSE_AFTER})?",
    re.IGNORECASE,
)
_MONTH_WORD = re.compile(r"\b(" + "|".join(_MONTHS[0] + _MONTHS[1]) + r")\b\.?", re.IGNORECASE)
_DATE_ZH = re.compile(r"(\d+)\s?[年月日号]")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_NOT_NAMES = {"i", "i'm", "i've", "i'd", "i'll", "ok", "tv"}


def _value(number: str) -> str:
    """A number's value as text: thousands separators dropped, a decimal comma read as a point, no leading zeros."""
    if ":" in number:  # a time: 9:00 is 9 o'clock, as "9 pm" says
        hours, minutes = number.split(":")
        hours = hours.lstrip("0") or "0"
        return hours if minutes == "00" else f"{hours}:{minutes}"
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", number):
        number = number.replace(",", "")
    number = number.replace(",", ".")
    whole, _, fraction = number.partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def find(text: str) -> list[Critical]:
    """The critical items in a sentence, in order."""
    found: list[Critical] = []
    for match in _NUMBERS.finditer(text):
        number = match["number"]
        if match["before"] or match["money"]:
            kind = Kind.MONEY
        elif match["dose"]:
            kind = Kind.DOSE
        elif re.fullmatch(r"\d{1,2}", number) and _DATE_ZH.match(text, match.start("number")):
            kind = Kind.DATE
        else:
            kind = Kind.NUMBER
        found.append(Critical(match.group().strip(), kind, _value(number)))
    for match in _MONTH_WORD.finditer(text):
        word = match[1].lower()
        if word == "may" and not _near_a_number(text, match):
            continue  # "may" is far more often the verb
        month = (_MONTHS[0].index(word) if word in _MONTHS[0] else _MONTHS[1].index(word)) + 1
        found.append(Critical(match[1], Kind.DATE, str(month)))
    found += _names(text)
    return found


def _near_a_number(text: str, match: re.Match[str]) -> bool:
    around = text[max(0, match.start() - 4) : match.end() + 4]
    return bool(re.search(r"\d", around))


def _names(text: str) -> list[Critical]:
    """Capitalised words after a sentence's first word, and words in capitals: the names of things."""
    names: list[Critical] = []
    for sentence in re.split(r"(?<=[.!?:;])\s+|\n", text):
        words = list(_WORD.finditer(sentence))
        for index, match in enumerate(words):
            word = match.group()
            letters = word.strip("'’-")
            if letters.lower() in _NOT_NAMES or _MONTH_WORD.fullmatch(letters):
                continue
            shouting = len(letters) >= 2 and letters.isupper()
            capitalised = index > 0 and letters[:1].isupper() and sentence[: match.start()].rstrip()[-1:] != '"'
            if shouting or capitalised:
                names.append(Critical(letters, Kind.NAME, letters.lower()))
    return names


def _read_keys(read: str) -> tuple[set[str], str]:
    """The values of the numbers and months OCR read, and its letters in lower case."""
    keys = {_value(match["number"]) for match in _NUMBERS.finditer(read)}
    keys |= {item.key for item in find(read) if item.kind is Kind.DATE}
    return keys, " ".join(_WORD.findall(read)).lower()


def unread(answer: str, read: str) -> list[Critical]:
    """The critical items of `answer` that are not in the text OCR read."""
    numbers, letters = _read_keys(read)
    missing = []
    for item in find(answer):
        if item.kind is Kind.NAME:
            if not re.search(rf"\b{re.escape(item.key)}\b", letters):
                missing.append(item)
        elif item.key not in numbers:
            missing.append(item)
    return missing


def values(read: str, kind: Kind) -> list[str]:
    """The lines OCR read that hold an item of this kind: what the label says about it, verbatim."""
    return [line.strip() for line in read.splitlines() if any(item.kind is kind for item in find(line))]


_MONEY_QUESTION = re.compile(
    r"\b(price|prices|cost|costs|how much|pay|paid|owe|total|change|cheap|expensive|dollars?|euros?|pounds?)\b"
)
_MONEY_QUESTION_ZH = ("价格", "多少钱", "价钱", "几块", "付", "总共", "一共", "贵")
_MEDICINE_QUESTION = re.compile(
    r"\b(dose|dosage|how many (pills|tablets|capsules|drops)|how much .*(take|give)|medicine|medication|"
    r"pills?|tablets?|capsules?|mg|milligrams?|prescription|take)\b"
)
_MEDICINE_QUESTION_ZH = ("剂量", "用量", "吃几", "服用", "药", "几片", "几粒", "毫克")


def asked_kind(question: str) -> Kind | None:
    """MONEY for a question about money, DOSE for one about medicine: those are answered with OCR's values."""
    text = question.lower()
    if _MEDICINE_QUESTION.search(text) or any(word in question for word in _MEDICINE_QUESTION_ZH):
        return Kind.DOSE
    if _MONEY_QUESTION.search(text) or any(word in question for word in _MONEY_QUESTION_ZH):
        return Kind.MONEY
    return None


class AnswerCheck:
    """Passes the model's sentences, one at a time, through what OCR read: a sentence with critical items that
    were not read says it is not sure of them; on a question about money or medicine, OCR's own lines of that kind
    are said in its place."""

    def __init__(self, read: str, question: str, say: Phrases) -> None:
        self.read = read
        self.asked = asked_kind(question)
        self.say = say
        self.unverified: list[str] = []
        """The critical items of the answer that were not read, in order."""
        self._gave_values = False

    def __call__(self, sentence: str) -> str:
        missing = unread(sentence, self.read)
        if not missing:
            return sentence
        self.unverified += [item.text for item in missing if item.text not in self.unverified]
        if self.asked is not None and any(item.kind in (self.asked, Kind.NUMBER) for item in missing):
            lines = values(self.read, self.asked)
            if lines:
                if self._gave_values:
                    return ""  # OCR's values were said once already
                self._gave_values = True
                return self.say.read_instead(lines)
        space = "" if sentence.endswith(("。", "！", "？")) else " "
        named = list(dict.fromkeys(item.text for item in missing))
        return f"{sentence}{space}{self.say.unsure_of(named)}"
