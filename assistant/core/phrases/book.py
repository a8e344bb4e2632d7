"""What every language's phrase book holds. Each entry is a sentence, or a function that makes one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from assistant.core.routing import main_language
from assistant.core.types import Colour
from assistant.errors import AssistantError


class Phrases(ABC):
    language: str
    sentence_end: str
    """Added to a line that does not end in punctuation, so that it is spoken with a pause."""

    # -- errors -------------------------------------------------------------------------------------
    no_vision_model: str
    no_vision_model_fix: str
    needs_vision_model: str
    """Closes an answer made without the model."""
    no_answer: str
    unexpected: str
    empty_question: str
    no_picture: str
    no_picture_given: str
    reading_off: str
    reading_off_fix: str
    nothing_heard: str
    not_caught: str
    nothing_to_describe: str
    nowhere_to_save: str
    error_by_code: Mapping[str, str]
    """For an error whose own sentence is in another language: what to say instead, by its code. An error whose
    code has none is said as it is."""

    def explain(self, error: AssistantError) -> str:
        """The error's sentence when it is in this book's language, else this book's sentence for its code."""
        said = error.spoken()
        if not said or main_language(said) == self.language:
            return said
        return self.error_by_code.get(error.code, said)

    # -- the terminal's lines, and what is spoken at start --------------------------------------------
    ready: str
    keys_help: str
    """The terminal loop's first line: the keys."""
    loading: str
    listening: str
    thinking: str
    goodbye: str
    reading_live: str
    you_asked: str
    """Put before the question heard, on the terminal, with what parts them."""
    sorry: str
    """Put before an error, on the terminal, with what parts them."""

    # -- prompts to the model -----------------------------------------------------------------------
    answer_in: str
    """Put after the question: the language to answer in. Empty where the system prompt's own language serves."""
    more_detail_question: str
    text_in_picture: str
    """Put after the question when the picture has text, so the model answers from it rather than retyping pixels."""

    # -- command replies ----------------------------------------------------------------------------
    nothing_said_yet: str
    stopped: str
    faster: str
    slower: str
    fastest_already: str
    slowest_already: str
    brief: str
    new_conversation: str
    light_mode: str
    help: str

    @abstractmethod
    def saved_rate(self, rate: float) -> str: ...

    # -- what a picture tells without the model -----------------------------------------------------
    too_dark: str
    washed_out: str
    blurred: str
    no_text_hint: str
    text_too_big: str
    no_text_seen: str
    nothing_read: str
    unreadable: str

    light_words: tuple[str, str, str, str]
    """Dark, dim, bright, very bright."""

    def light_word(self, level: float) -> str:
        return self.light_words[light_step(level)]

    @abstractmethod
    def light(self, level: float) -> str: ...

    @abstractmethod
    def colour(self, colour: Colour) -> str: ...

    @abstractmethod
    def measured_colour(self, colour: Colour, dark: bool) -> str:
        """Put after a colour question when the model answers it: the colour measured in the middle."""

    @abstractmethod
    def colour_in_the_dark(self, sentence: str) -> str: ...

    @abstractmethod
    def faces(self, count: int) -> str: ...

    @abstractmethod
    def can_read(self, text: str) -> str: ...

    @abstractmethod
    def cut_off(self, edges: list[str]) -> str:
        """Text runs into these edges (left, right, top, bottom): which way to move the camera."""

    @abstractmethod
    def there_is_text(self, text: str, more: bool) -> str:
        """Said at once about a new picture, before the model's answer: the text in view (its start, if `more`)."""

    @abstractmethod
    def heard_as(self, question: str) -> str:
        """Said before the answer when the question was hard to hear, so that a mishearing is noticed."""

    @abstractmethod
    def already_said(self, text: str) -> str:
        """Put after the question: what the user has just heard, which the model should not say again."""

    @abstractmethod
    def unsure_of(self, items: list[str]) -> str:
        """After a sentence of the model's holding numbers or names that were not read in the picture."""

    @abstractmethod
    def read_instead(self, lines: list[str]) -> str:
        """In place of the model's price or dose that was not read: what was read."""

    # -- live reading -------------------------------------------------------------------------------
    live_started: str
    live_stopped: str
    live_quiet: str
    """Live reading ends by itself after a quiet while."""

    @abstractmethod
    def field(self, key: str, value: str) -> str: ...

    @abstractmethod
    def unreadable_cell(self, key: str | None) -> str: ...

    @abstractmethod
    def document(self, kind: str, count: int, shown: list[str], more: int) -> str:
        """A document's spoken summary: `count` lines, fields or items, the first `shown`, and `more` unsaid."""

    def framing(self, too_dark: bool, too_bright: bool, blurred: bool) -> list[str]:
        """What is wrong with the picture, and what to do about it; empty when it is fine."""
        hints = []
        if too_dark:
            hints.append(self.too_dark)
        elif too_bright:
            hints.append(self.washed_out)
        if blurred and not too_dark:
            hints.append(self.blurred)
        return hints

    def edge_hint(self, edges: list[str]) -> str:
        if not edges:
            return ""
        return self.text_too_big if len(edges) > 2 else self.cut_off(edges)


LIGHT_LEVELS = (0.12, 0.35, 0.75, 2.0)
"""Upper bounds of dark, dim, bright and very bright, in mean luminance (0 to 1)."""


def light_step(level: float) -> int:
    """0 dark, 1 dim, 2 bright, 3 very bright."""
    return next(index for index, top in enumerate(LIGHT_LEVELS) if level < top)
