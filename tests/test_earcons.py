"""A sound for every state: the timeline of a scripted session, as the file speaker records it."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from assistant.cli.factory import assemble_engine
from assistant.cli.loop import PushToTalkLoop
from assistant.core.presets import Preset
from assistant.hear.audio import WavFileSource
from assistant.hear.keys import ScriptedKeys
from assistant.hear.stt import WhisperTranscriber
from assistant.see.camera import ImageFileSource
from assistant.speak.earcons import NAMES, Earcons
from assistant.speak.sinks import WavFileSink
from assistant.speak.tts import PiperSynthesizer


class SlowVision:
    """Thinks for `delay` seconds, then answers one sentence."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def stream(self, messages: list[dict[str, Any]], preset: Preset) -> Iterator[str]:
        time.sleep(self.delay)
        yield "The door is open."

    def count_tokens(self, messages: list[dict[str, Any]]) -> int:
        return 100

    def close(self) -> None:
        pass


def test_each_earcon_is_short_distinct_and_follows_the_volume() -> None:
    loud, soft = Earcons(volume=1.0), Earcons(volume=0.2)
    sounds = {name: loud(name) for name in NAMES}
    for name, sound in sounds.items():
        assert sound is not None and sound.kind == "cue"
        assert 0.02 < len(sound.samples) / sound.sample_rate < 0.5, name
        assert np.abs(sound.samples).max() <= 1.0
    assert len({sound.samples.tobytes() for sound in sounds.values() if sound}) == len(NAMES), "all distinct"
    quiet = soft("ready")
    assert quiet is not None and np.abs(quiet.samples).max() == pytest.approx(
        0.2 * np.abs(sounds["ready"].samples).max()
    )
    assert Earcons(enabled=False)("ready") is None and Earcons(volume=0)("error") is None


@pytest.mark.slow
def test_a_sound_within_300_ms_of_every_state_change(
    tmp_path: Path,
    transcriber: WhisperTranscriber,
    synthesizer: PiperSynthesizer,
    question_wav: Path,
    silent_wav: Path,
    image_file: Path,
) -> None:
    sink = WavFileSink(tmp_path / "answers")
    assistant = assemble_engine(transcriber, synthesizer, vlm=SlowVision(4.5), cues=Earcons()).session(
        sink, sounds=True
    )
    states: list[tuple[float, str]] = []
    keys = ScriptedKeys([" ", " ", " ", " "])
    loop = PushToTalkLoop(
        assistant,
        WavFileSource([question_wav, silent_wav]),
        ImageFileSource(image_file),
        keys,
        lambda line: states.append((time.monotonic(), line)),
    )
    loop.run()
    sounds = sorted([(t, name) for t, name in sink.cues] + [(t, "speech") for t in sink.chunk_times])
    changes = [(t, line) for t, line in states if line != "Goodbye."]
    assert [line for _, line in changes][1:] == ["Listening.", "Thinking.", "Listening.", "Thinking."]
    for when, line in changes:
        assert any(abs(t - when) < 0.3 for t, _ in sounds), f"no sound within 300 ms of {line!r}"
    names = [name for _, name in sounds]
    assert names[:3] == ["ready", "listening", "thinking"]
    ticks = [t for t, name in sounds if name == "tick"]
    assert len(ticks) >= 2, "ticks while the model thinks"
    speech_times = sorted(sink.chunk_times)
    gaps = np.diff([t for t, _ in sounds if t <= speech_times[0]])
    assert gaps.max() < 2.3, "never more than a tick's interval of silence before the answer"
    assert "error" in names, "the silent recording got the error sound"
