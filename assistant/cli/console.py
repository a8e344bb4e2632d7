"""Plain lines on stdout: what a screen reader reads. Nothing redraws, nothing relies on colour."""

from __future__ import annotations

from assistant.core.phrases import for_text


def say(line: str) -> None:
    print(line, flush=True)


def notify(kind: str, text: str) -> None:
    """The Assistant's progress, as lines: the question heard, each sentence spoken, errors."""
    if kind == "question":
        say(f"{for_text(text).you_asked}{text}")
    elif kind == "error":
        say(f"{for_text(text).sorry}{text}")
    else:
        say(text)
