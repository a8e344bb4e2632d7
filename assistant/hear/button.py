"""A hardware push-to-talk button: a USB or Bluetooth clicker or shutter remote, read with evdev.

Holding the button is holding to talk: key down starts listening (or interrupts an answer), key up stops.
The terminal keys keep working beside it."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from assistant.errors import DeviceError
from assistant.hear.keys import QUIT_KEYS, TerminalKeys

_LOGGER = logging.getLogger(__name__)

EV_KEY = 1
"""evdev's event type for keys and buttons."""
KEY_DOWN, KEY_UP = 1, 0
TALK = " "
NO_ACCESS_FIX = "Add yourself to the 'input' group (sudo usermod -aG input $USER), then log in again."


class ButtonLogic:
    """Key events of one button → the loop's talk key, once on press and once on release; auto-repeat
    and other keys are ignored."""

    def __init__(self, code: int) -> None:
        self.code = code
        self._down = False

    def feed(self, event_type: int, code: int, value: int) -> str | None:
        if event_type != EV_KEY or code != self.code:
            return None
        if value == KEY_DOWN and not self._down:
            self._down = True
            return TALK
        if value == KEY_UP and self._down:
            self._down = False
            return TALK
        return None


def _evdev() -> Any:
    try:
        import evdev
    except ImportError as e:
        raise DeviceError("Hardware buttons need the evdev package.", "Run ./setup.sh on Linux.") from e
    return evdev


def key_code(name: str) -> int:
    """The evdev code of a key name such as KEY_VOLUMEUP, or a number as it is."""
    if name.isdigit():
        return int(name)
    code = _evdev().ecodes.ecodes.get(name.upper())
    if code is None:
        raise DeviceError(f"There is no key called {name}.", "Use a name such as KEY_VOLUMEUP or KEY_ENTER.")
    return int(code)


@dataclass(frozen=True)
class ButtonDevice:
    path: str
    name: str
    keys: int
    """How many keys it has."""


def list_buttons() -> list[ButtonDevice]:
    """Every readable input device with keys: the candidates for button.device."""
    evdev = _evdev()
    found = []
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue
        with contextlib.closing(device):
            keys = device.capabilities().get(EV_KEY, [])
            if keys:
                found.append(ButtonDevice(path, device.name, len(keys)))
    return found


def open_button(spec: str) -> Any:
    """The InputDevice at a /dev/input path, or the first whose name contains `spec`."""
    evdev = _evdev()
    try:
        if spec.startswith("/dev/"):
            return evdev.InputDevice(spec)
        for button in list_buttons():
            if spec.lower() in button.name.lower():
                return evdev.InputDevice(button.path)
    except PermissionError as e:
        raise DeviceError(f"I may not read the button {spec}.", NO_ACCESS_FIX) from e
    except OSError as e:
        raise DeviceError(f"The button {spec} is not connected.", "Plug it in or pair it, then start again.") from e
    raise DeviceError(
        f"No button called {spec} was found.", "Run 'assistant doctor --buttons' to see the ones connected."
    )


class ButtonAndTerminalKeys:
    """Keys from a button and from the terminal, in the order they come."""

    def __init__(self, device: Any, code: int, terminal: TerminalKeys) -> None:
        self.device = device
        self.logic = ButtonLogic(code)
        self.terminal = terminal
        self._keys: queue.Queue[str] = queue.Queue()

    def session(self) -> AbstractContextManager[object]:
        return self._session()

    @contextlib.contextmanager
    def _session(self) -> Iterator[object]:
        with self.terminal.session():
            for target in (self._read_button, self._read_terminal):
                threading.Thread(target=target, daemon=True).start()
            try:
                yield self
            finally:
                self.device.close()

    def _read_button(self) -> None:
        try:
            for event in self.device.read_loop():
                key = self.logic.feed(event.type, event.code, event.value)
                if key is not None:
                    self._keys.put(key)
        except OSError as e:
            _LOGGER.warning("the button stopped: %s", e)

    def _read_terminal(self) -> None:
        while True:
            key = self.terminal.read()
            self._keys.put(key)
            if key in QUIT_KEYS:
                return

    def read(self) -> str:
        return self._keys.get()

    def poll(self, timeout: float) -> str | None:
        try:
            return self._keys.get(timeout=timeout)
        except queue.Empty:
            return None
