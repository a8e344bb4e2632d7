"""The hardware button: its logic fed synthetic key events, no device needed."""

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.cli.factory import make_session
from assistant.cli.loop import PushToTalkLoop
from assistant.config import Config
from assistant.errors import DeviceError
from assistant.hear.audio import WavFileSource
from assistant.hear.button import EV_KEY, ButtonAndTerminalKeys, ButtonLogic, key_code, list_buttons, open_button
from assistant.hear.keys import TerminalKeys
from assistant.see.camera import ImageFileSource
from assistant.speak.sinks import WavFileSink

VOLUME_UP = 115
EV_SYN = 0


def test_press_and_release_each_give_the_talk_key_and_repeats_are_ignored() -> None:
    logic = ButtonLogic(VOLUME_UP)
    events = [
        (EV_KEY, VOLUME_UP, 1),
        (EV_SYN, 0, 0),
        (EV_KEY, VOLUME_UP, 2),  # auto-repeat while held
        (EV_KEY, 28, 1),  # another key
        (EV_KEY, VOLUME_UP, 0),
        (EV_KEY, VOLUME_UP, 0),  # a second release without a press
    ]
    assert [logic.feed(*event) for event in events] == [" ", None, None, None, " ", None]


@pytest.mark.devices
def test_only_readable_devices_with_keys_are_offered_as_buttons(monkeypatch: pytest.MonkeyPatch) -> None:
    import evdev

    class Device:
        """evdev's InputDevice for paths no machine here has: a remote, a mouse-like device with no keys, and one
        the user may not read."""

        def __init__(self, path: str) -> None:
            if path.endswith("2"):
                raise PermissionError(path)
            self.path, self.name = path, {"/dev/input/event0": "Shutter remote", "/dev/input/event1": "Motion"}[path]

        def capabilities(self) -> dict[int, list[int]]:
            return {EV_KEY: [VOLUME_UP, 114]} if self.path.endswith("0") else {3: [0, 1]}

        def close(self) -> None:
            pass

    monkeypatch.setattr(evdev, "list_devices", lambda: [f"/dev/input/event{i}" for i in range(3)])
    monkeypatch.setattr(evdev, "InputDevice", Device)
    assert [(b.path, b.name, b.keys) for b in list_buttons()] == [("/dev/input/event0", "Shutter remote", 2)]


@pytest.mark.devices
def test_key_names_and_missing_buttons_are_clear() -> None:
    assert key_code("KEY_VOLUMEUP") == key_code("key_volumeup") == VOLUME_UP
    assert key_code("164") == 164
    with pytest.raises(DeviceError, match="no key called KEY_NOPE"):
        key_code("KEY_NOPE")
    with pytest.raises(DeviceError, match="No button called no-such-remote was found"):
        open_button("no-such-remote")
    with pytest.raises(DeviceError, match="is not connected"):
        open_button("/dev/input/event999")


class SyntheticRemote:
    """Stands in for evdev's InputDevice: a shutter remote pressed at given times."""

    name = "Synthetic shutter remote"

    def __init__(self, presses: list[tuple[float, int]]) -> None:
        self.presses = presses
        self.closed = False

    def read_loop(self) -> Iterator[SimpleNamespace]:
        start = time.monotonic()
        for at, value in self.presses:
            time.sleep(max(0.0, start + at - time.monotonic()))
            yield SimpleNamespace(type=EV_KEY, code=VOLUME_UP, value=value)

    def close(self) -> None:
        self.closed = True


@pytest.mark.slow
def test_holding_the_button_asks_and_the_keyboard_still_quits(
    tmp_path: Path, config: Config, question_wav: Path, image_file: Path
) -> None:
    read_end, write_end = os.pipe()
    stdin = os.fdopen(read_end)
    terminal = TerminalKeys(stdin)
    remote = SyntheticRemote([(0.2, 1), (0.3, 2), (0.6, 0)])
    keys = ButtonAndTerminalKeys(remote, VOLUME_UP, terminal)
    sink = WavFileSink(tmp_path / "answers")
    assistant = make_session(config, sink, lambda kind, text: None)
    lines: list[str] = []

    def quit_when_answered() -> None:
        exchanges = assistant.conversation.exchanges
        while not (exchanges and exchanges[-1].answer is not None and sink.written):
            time.sleep(0.05)
        time.sleep(0.3)
        os.write(write_end, b"q\n")

    quitter = threading.Thread(target=quit_when_answered, daemon=True)
    quitter.start()
    try:
        loop = PushToTalkLoop(assistant, WavFileSource([question_wav]), ImageFileSource(image_file), keys, lines.append)
        assert loop.run() == 1
    finally:
        assistant.engine.close()
        os.close(write_end)
        stdin.close()
    assert lines[1:] == ["Listening.", "Thinking.", "Goodbye."]
    assert len(sink.written) == 1
    assert remote.closed
