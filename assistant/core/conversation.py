"""The conversation: a system prompt for a blind user, and a bounded history that fits the context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assistant.core.types import Frame
from assistant.errors import BadInputError

SYSTEM_PROMPT = (
    "You are the eyes of a blind or low-vision person, looking through their camera. "
    "Answer first, in one or two short sentences, in the language of the question; give details only when asked. "
    "If you are not sure, say so plainly. Never guess at text: read it exactly as written, "
    "or say that it cannot be read. "
    "Give positions as clock directions, such as 'at two o'clock', and distances in steps or arm's lengths. "
    "Never say 'as you can see'."
)

INTERRUPTED_MARK = " [the user stopped me here]"

ImagePart = Callable[[Frame], dict[str, Any]]
Message = dict[str, Any]


@dataclass
class Exchange:
    question: str
    frame: Frame | None
    """The picture as the model is given it."""
    answer: str | None = None
    interrupted: bool = False
    full: Frame | None = None
    """The picture as the camera gave it, for asking again at a larger budget ("more detail")."""


class Conversation:
    """Turns in order. The newest frame is sent once, with the earliest kept turn that showed it;
    other frames are dropped, so the model sees one picture: the one the user is asking about."""

    def __init__(self, system_prompt: str = SYSTEM_PROMPT, max_turns: int = 8) -> None:
        self.system_prompt = system_prompt
        self.max_turns = max(1, max_turns)
        self.exchanges: list[Exchange] = []

    def add_user(self, text: str, frame: Frame | None, full: Frame | None = None) -> None:
        if self.exchanges and self.exchanges[-1].answer is None:
            self.exchanges.pop()  # the last question got no answer: replace it rather than stack it
        self.exchanges.append(Exchange(text, frame, full=full))
        del self.exchanges[: -self.max_turns]

    def with_question(self, text: str, frame: Frame | None) -> Conversation:
        """A copy with this question added, to see the prompt it would make; this conversation is unchanged."""
        preview = Conversation(self.system_prompt, self.max_turns)
        preview.exchanges = list(self.exchanges)
        preview.add_user(text, frame)
        return preview

    def add_assistant(self, text: str, interrupted: bool = False) -> None:
        if not self.exchanges or self.exchanges[-1].answer is not None:
            raise ValueError("add_assistant needs a question waiting for its answer")
        self.exchanges[-1].answer = text
        self.exchanges[-1].interrupted = interrupted

    def discard_pending(self) -> None:
        """Forget a question whose answer failed."""
        if self.exchanges and self.exchanges[-1].answer is None:
            self.exchanges.pop()

    def reset(self) -> None:
        self.exchanges.clear()

    @property
    def newest_frame(self) -> Frame | None:
        return self.exchanges[-1].frame if self.exchanges else None

    @property
    def newest_full_frame(self) -> Frame | None:
        """The newest picture as the camera gave it, or as the model was given it when that is all there is."""
        if not self.exchanges:
            return None
        return self.exchanges[-1].full or self.exchanges[-1].frame

    def messages(self, image_part: ImagePart, start: int = 0) -> list[Message]:
        """Chat messages from exchange `start` on, the newest frame rendered by image_part."""
        newest = self.newest_frame
        shown = False
        result: list[Message] = [{"role": "system", "content": self.system_prompt}]
        for exchange in self.exchanges[start:]:
            if (
                newest is not None
                and not shown
                and exchange.frame is not None
                and (exchange.frame.sha256 == newest.sha256)
            ):
                content: Any = [image_part(exchange.frame), {"type": "text", "text": exchange.question}]
                shown = True
            else:
                content = exchange.question
            result.append({"role": "user", "content": content})
            if exchange.answer is not None:
                answer = exchange.answer + (INTERRUPTED_MARK if exchange.interrupted else "")
                result.append({"role": "assistant", "content": answer})
        return result

    def fit(self, image_part: ImagePart, count_tokens: Callable[[list[Message]], int], budget: int) -> int:
        """The first exchange to keep so that the prompt takes at most `budget` tokens.

        Oldest turns go first; the system prompt and the newest turn always stay."""
        for start in range(len(self.exchanges)):
            if count_tokens(self.messages(image_part, start)) <= budget:
                return start
        raise BadInputError("Your question is too long for the vision model's memory. Please ask it more briefly.")
