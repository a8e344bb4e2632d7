"""One exception family. Every message is a short sentence fit to be spoken to the user."""

from __future__ import annotations


class AssistantError(Exception):
    """An error the user hears about. `message` is a plain sentence; `fix` says what to do, if anything."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def spoken(self) -> str:
        return f"{self.message} {self.fix}".strip()


class ModelError(AssistantError):
    """A model file or folder is missing or cannot be loaded."""


class DeviceError(AssistantError):
    """A microphone, speaker or camera is missing or failed."""


class BadInputError(AssistantError):
    """An input file or request the assistant cannot use."""


class TooLargeError(BadInputError):
    """An input over one of the configured caps: picture pixels, recording length."""


class NothingHeardError(AssistantError):
    """The recording held no question."""

    def __init__(self) -> None:
        super().__init__("I didn't hear a question.")
