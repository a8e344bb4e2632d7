import re
from pathlib import Path

import numpy as np
import pytest
from helpers import read_wav, write_wav

from assistant.core.types import AudioChunk
from assistant.errors import BadInputError, DeviceError
from assistant.hear.audio import (
    SAMPLE_RATE,
    MicrophoneSource,
    WavFileSource,
    import_sounddevice,
    list_devices,
    read_audio_file,
)
from assistant.speak.sinks import SpeakerSink, WavFileSink


def _tone(rate: int, seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize(("rate", "channels"), [(22050, 1), (44100, 2), (8000, 1), (16000, 1)])
def test_any_rate_and_channel_count_is_resampled_to_16k_mono(tmp_path: Path, rate: int, channels: int) -> None:
    path = write_wav(tmp_path / "tone.wav", _tone(rate), rate, channels)
    clip = read_audio_file(path)
    assert clip.sample_rate == SAMPLE_RATE
    assert clip.samples.ndim == 1
    assert clip.duration_s == pytest.approx(1.0, abs=0.02)
    spectrum = np.abs(np.fft.rfft(clip.samples))
    assert np.argmax(spectrum) * SAMPLE_RATE / len(clip.samples) == pytest.approx(440, abs=3)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"this is not audio at all", "not audio I understand"), (b"", "not audio I understand")],
)
def test_a_file_that_is_not_audio_gets_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "question.wav"
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=message):
        read_audio_file(path)


def test_a_missing_audio_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"nope\.wav does not exist"):
        read_audio_file(tmp_path / "nope.wav")


def test_wav_source_is_capped_like_the_microphone(tmp_path: Path) -> None:
    source = WavFileSource([write_wav(tmp_path / "long.wav", _tone(16000, 3.0), 16000)], max_seconds=2.0)
    source.start()
    assert source.stop().duration_s == 2.0


def test_wav_source_gives_one_clip_per_press(tmp_path: Path) -> None:
    first = write_wav(tmp_path / "a.wav", _tone(16000, 0.5), 16000)
    second = write_wav(tmp_path / "b.wav", _tone(16000, 1.0), 16000)
    source = WavFileSource([first, second])
    durations = []
    for _ in range(2):
        source.start()
        durations.append(round(source.stop().duration_s, 1))
    assert durations == [0.5, 1.0]
    with pytest.raises(BadInputError, match=r"no more sound files"):
        source.start()


def test_wav_sink_writes_one_file_per_answer_and_stops_when_cancelled(tmp_path: Path) -> None:
    import threading

    sink = WavFileSink(tmp_path / "out")
    chunk = AudioChunk(_tone(22050, 0.2), 22050)
    assert sink.play([chunk, chunk]) == 2
    cancel = threading.Event()

    def chunks():  # type: ignore[no-untyped-def]
        yield chunk
        cancel.set()
        yield chunk

    assert sink.play(chunks(), cancel) == 1
    assert [p.name for p in sink.written] == ["answer-001.wav", "answer-002.wav"]
    first = read_wav(sink.written[0])
    assert first.sample_rate == 22050
    assert first.duration_s == pytest.approx(0.4, abs=0.01)
    assert read_wav(sink.written[1]).duration_s == pytest.approx(0.2, abs=0.01)


@pytest.mark.devices
def test_portaudio_loads_and_lists_devices() -> None:
    sd = import_sounddevice()
    assert "PortAudio" in sd.get_portaudio_version()[1]
    lines = list_devices()
    assert len(lines) == len(sd.query_devices()), "one line for each device PortAudio knows"
    assert all(re.fullmatch(r"\d+: .+ \(\d+ in, \d+ out\)", line) for line in lines), lines


@pytest.mark.devices
def test_a_missing_microphone_is_a_clear_error() -> None:
    microphone = MicrophoneSource("no-such-microphone-anywhere")
    with pytest.raises(DeviceError, match=r"no microphone was found \(no-such-microphone-anywhere\)"):
        microphone.start()


@pytest.mark.devices
def test_a_missing_speaker_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match=r"No speaker was found \(no-such-speaker-anywhere\)"):
        SpeakerSink("no-such-speaker-anywhere").check()
