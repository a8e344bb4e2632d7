import pytest

from assistant.core.speech import (
    LONGEST_PIECE,
    MAX_SPOKEN_CHARS,
    clean_for_speech,
    pieces_for_voice,
    sentences,
    split_sentences,
)


def test_splits_sentences_and_keeps_a_final_fragment() -> None:
    assert split_sentences("It is a mug. It is blue! Is it hot? maybe not") == [
        "It is a mug.",
        "It is blue!",
        "Is it hot?",
        "maybe not",
    ]


def test_numbers_abbreviations_and_ellipses_do_not_split() -> None:
    text = "Dr. Smith paid $3.50 for No. 5 at 2.5 km... Then left. 它是蓝色的。对吗？"
    assert split_sentences(text) == [
        "Dr. Smith paid $3.50 for No. 5 at 2.5 km...",
        "Then left.",
        "它是蓝色的。",
        "对吗？",
    ]


def test_streamed_pieces_yield_each_sentence_when_complete() -> None:
    pieces = ["The price", " is 3", ".", "5 euros", ". The", " box is red", "."]
    seen = []
    for sentence in sentences(iter(pieces)):
        seen.append(sentence)
    assert seen == ["The price is 3.5 euros.", "The box is red."]


def test_a_sentence_is_released_before_the_stream_ends() -> None:
    produced: list[str] = []

    def tokens():  # type: ignore[no-untyped-def]
        for piece in ["A cup.", " Then", " more"]:
            produced.append(piece)
            yield piece

    stream = sentences(tokens())
    assert next(stream) == "A cup."
    assert produced == ["A cup.", " Then"]
    assert list(stream) == ["Then more"]


def test_cleaning_removes_markdown_links_and_emoji() -> None:
    text = "## Result\n- **Red** mug 😀\n- see [the label](http://x.y/z) at https://example.com\n`code`"
    assert clean_for_speech(text) == "Result Red mug see the label at code"


def test_a_run_on_is_spoken_in_parts_cut_at_a_comma_or_a_space() -> None:
    clause = "the path turns left past the bench"
    text = ", ".join([clause] * 8) + "."
    parts = list(sentences(iter(text[i : i + 4] for i in range(0, len(text), 4))))
    assert len(parts) > 1
    assert all(len(part) <= MAX_SPOKEN_CHARS for part in parts)
    assert all(part.endswith(",") for part in parts[:-1]), "cut after a comma"
    assert " ".join(parts) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("It costs $4.99. Cash only.", ["It costs $4.99.", "Cash only."]),
        ("Wait... what? Yes!", ["Wait...", "what?", "Yes!"]),
        ("Mr. Lee is 1.8 m tall.", ["Mr. Lee is 1.8 m tall."]),
        ("See e.g. the sign. Then go.", ["See e.g. the sign.", "Then go."]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("价格是3.5元。好的！还有吗？", ["价格是3.5元。", "好的！", "还有吗？"]),
        ("no punctuation at all", ["no punctuation at all"]),
        ("", []),
    ],
)
def test_splitter_table(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected
    assert list(sentences(iter(text))) == expected, "the same, streamed one character at a time"


def test_a_voice_is_given_a_long_sentence_in_clauses_and_every_word_once() -> None:
    sentence = (
        "There is a red mug on the table to your left, and behind it a bottle of water with a blue label, "
        "and beside them, a plate of small cakes under the window that looks onto the garden."
    )
    pieces = pieces_for_voice(f"A door. {sentence} 前面有一扇门。")
    assert all(len(piece) <= LONGEST_PIECE for piece in pieces)
    assert pieces[0] == "A door."
    assert all(piece.endswith((",", ".", "。")) for piece in pieces), "cut after a comma, not between words"
    assert " ".join(pieces).split() == f"A door. {sentence} 前面有一扇门。".split()


def test_a_run_of_words_without_a_mark_is_cut_between_words() -> None:
    words = "one two three four five six seven eight nine ten " * 8
    pieces = pieces_for_voice(words)
    assert len(pieces) > 1 and all(len(piece) <= LONGEST_PIECE for piece in pieces)
    assert " ".join(pieces).split() == words.split()
