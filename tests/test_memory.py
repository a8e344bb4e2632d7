from typing import Any

import numpy as np
import pytest
from helpers import scene

from assistant.core.conversation import INTERRUPTED_MARK, SYSTEM_PROMPT, Conversation
from assistant.core.types import Frame
from assistant.errors import BadInputError


def _part(frame: Frame) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"<image {frame.sha256}>"}}


def _images(messages: list[dict[str, Any]]) -> list[str]:
    return [
        part["image_url"]["url"]
        for message in messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]


def test_the_system_prompt_is_written_for_a_blind_user() -> None:
    for rule in ("Answer first", "not sure", "exactly as written", "clock directions", "as you can see"):
        assert rule in SYSTEM_PROMPT


def test_only_the_newest_image_is_sent_and_older_turns_keep_their_text() -> None:
    conversation = Conversation()
    first, second = Frame(scene(1)), Frame(scene(2))
    conversation.add_user("What is this?", first)
    conversation.add_assistant("A box.")
    conversation.add_user("And this?", second)
    messages = conversation.messages(_part)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "What is this?"
    assert messages[2]["content"] == "A box."
    assert _images(messages) == [f"<image {second.sha256}>"]


def test_the_same_frame_is_sent_once_with_the_turn_that_first_showed_it() -> None:
    conversation = Conversation()
    frame = Frame(scene(3))
    conversation.add_user("What is this?", frame)
    conversation.add_assistant("A box.")
    conversation.add_user("What colour is it?", Frame(scene(3)))
    messages = conversation.messages(_part)
    assert _images(messages) == [f"<image {frame.sha256}>"]
    assert isinstance(messages[1]["content"], list)
    assert messages[3]["content"] == "What colour is it?"


def test_no_picture_means_no_image_at_all() -> None:
    conversation = Conversation()
    conversation.add_user("What is this?", Frame(scene(1)))
    conversation.add_assistant("A box.")
    conversation.add_user("Thanks, what time is it?", None)
    assert _images(conversation.messages(_part)) == []


def test_reset_empties_the_history() -> None:
    conversation = Conversation()
    conversation.add_user("What is this?", Frame(scene(1)))
    conversation.add_assistant("A box.")
    conversation.reset()
    assert conversation.messages(_part) == [{"role": "system", "content": SYSTEM_PROMPT}]


def test_an_interrupted_answer_is_marked_and_a_failed_question_forgotten() -> None:
    conversation = Conversation()
    conversation.add_user("Describe the room.", None)
    conversation.add_assistant("A long room.", interrupted=True)
    conversation.add_user("Anything else?", None)
    conversation.discard_pending()
    messages = conversation.messages(_part)
    assert messages[-1] == {"role": "assistant", "content": "A long room." + INTERRUPTED_MARK}


def test_history_is_bounded_by_turn_count() -> None:
    conversation = Conversation(max_turns=3)
    for index in range(6):
        conversation.add_user(f"question {index}", None)
        conversation.add_assistant(f"answer {index}")
    assert [e.question for e in conversation.exchanges] == ["question 3", "question 4", "question 5"]


def _words(messages: list[dict[str, Any]]) -> int:
    """A stand-in token count: words, and 50 per image."""
    total = 0
    for message in messages:
        content = message["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        total += sum(len(p["text"].split()) if p["type"] == "text" else 50 for p in parts)
    return total


def test_trimming_drops_the_oldest_turns_and_keeps_the_system_prompt_and_the_newest() -> None:
    conversation = Conversation()
    for index in range(5):
        conversation.add_user(f"question number {index} " + "word " * 20, None)
        conversation.add_assistant("answer " * 20)
    conversation.add_user("the newest question", Frame(np.zeros((8, 8, 3), np.uint8)))
    system = len(SYSTEM_PROMPT.split())
    start = conversation.fit(_part, _words, budget=system + 50 + 3 + 2 * (23 + 20))
    kept = conversation.messages(_part, start)
    assert kept[0]["role"] == "system"
    assert kept[-1]["content"][1]["text"] == "the newest question"
    assert [m["content"].split()[2] for m in kept[1:-1] if m["role"] == "user"] == ["3", "4"]
    with pytest.raises(BadInputError, match=r"too long"):
        conversation.fit(_part, _words, budget=system + 10)
