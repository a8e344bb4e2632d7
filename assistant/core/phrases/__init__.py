"""The phrase book: every sentence the assistant speaks or returns on its own, one file per language.

`for_text(question)` picks the book for the question's language; the model's own answers are not here."""

from __future__ import annotations

from assistant.core.phrases.book import Phrases
from assistant.core.phrases.en import English
from assistant.core.phrases.zh import Chinese
from assistant.core.routing import is_chinese

BOOKS: dict[str, Phrases] = {"en": English(), "zh": Chinese()}


def for_text(text: str) -> Phrases:
    """The book in the language of `text`: Chinese when it holds Chinese characters, else English."""
    return BOOKS["zh" if is_chinese(text) else "en"]


__all__ = ["BOOKS", "Phrases", "for_text", "is_chinese"]
