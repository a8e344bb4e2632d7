"""Plain lines on stdout: what a screen reader reads. Nothing redraws, nothing relies on colour."""

from __future__ import annotations


def say(line: str) -> None:
    print(line, flush=True)


def notify(kind: str, text: str) -> None:
    """The Assistant's progress, as lines: the question heard, each sentence spoken, errors."""
    if kind == "question":
        say(f"You asked: {text}")
    elif kind == "error":
        say(f"Sorry: {text}")
    else:
        say(text)
