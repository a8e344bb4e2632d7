"""Numbers, prices, doses, dates and names in an answer, against the text read: pure functions, no model."""

import pytest

from assistant.core.critical import AnswerCheck, Kind, asked_kind, find, unread, values
from assistant.core.phrases import BOOKS

LABEL = "IBUPROFEN 200 mg\nPrice $4.99\nBest before 03/05/2027\nOpen 9:00 to 17:30"


@pytest.mark.parametrize(
    ("sentence", "missing"),
    [
        ("Ibuprofen, 200 mg, for $4.99.", []),
        ("It costs 4,99 €.", []),
        ("Best before 3 May 2027.", []),
        ("Open from 9 am until 5:30 pm.", ["5:30"]),
        ("It costs $12.99.", ["$12.99"]),
        ("Take 400 mg.", ["400 mg"]),
        ("Best before June 2027.", ["June"]),
        ("It is made by Bayer.", ["Bayer"]),
        ("You may take it with food.", []),
        ("价格是4.99元。", []),
        ("价格是12.99元。", ["12.99元"]),
        ("每次吃400毫克。", ["400毫克"]),
    ],
)
def test_what_was_not_read_is_found(sentence: str, missing: list[str]) -> None:
    assert [item.text for item in unread(sentence, LABEL)] == missing


def test_kinds_and_values() -> None:
    assert [(item.text, item.kind) for item in find("$3 for 2 tablets on 12 March")] == [
        ("$3", Kind.MONEY),
        ("2 tablets", Kind.DOSE),
        ("12", Kind.NUMBER),
        ("March", Kind.DATE),
    ]
    assert values(LABEL, Kind.MONEY) == ["Price $4.99"] and values(LABEL, Kind.DOSE) == ["IBUPROFEN 200 mg"]
    assert asked_kind("How much is it?") is Kind.MONEY and asked_kind("How many tablets should I take?") is Kind.DOSE
    assert asked_kind("这个多少钱？") is Kind.MONEY and asked_kind("这个药怎么吃？") is Kind.DOSE
    assert asked_kind("What is in front of me?") is None


def test_the_check_flags_replaces_once_and_keeps_what_was_read() -> None:
    en = BOOKS["en"]
    check = AnswerCheck(LABEL, "How much does it cost?", en)
    assert check("It is a box of ibuprofen.") == "It is a box of ibuprofen."
    assert check("It costs $12.99.") == en.read_instead(["Price $4.99"])
    assert check("That is $12.99 in total.") == "", "what was read is said once"
    assert check.unverified == ["$12.99"]
    scene = AnswerCheck("", "What is in front of me?", en)
    assert scene("A sign says 24 hours.") == "A sign says 24 hours. " + en.unsure_of(["24"])
