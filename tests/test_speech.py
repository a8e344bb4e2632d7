from assistant.speech import clean_for_speech, sentences, split_sentences


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
