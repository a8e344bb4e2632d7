"""Audio in: the microphone through sounddevice, audio files standing in for it, and decoding uploads."""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.core.types import AudioClip
from assistant.errors import AssistantError, BadInputError, DeviceError, TooLargeError

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
"""Whisper's rate: every recording is mono at 16 kHz."""


def import_sounddevice() -> Any:
    """sounddevice, or a DeviceError naming the missing PortAudio library."""
    try:
        import sounddevice
    except OSError as e:
        raise DeviceError(
            "The sound library PortAudio is not installed.",
            "Install it with: sudo apt-get install libportaudio2",
        ) from e
    return sounddevice


def device_spec(spec: str) -> int | str | None:
    if not spec:
        return None
    return int(spec) if spec.isdigit() else spec


def device_name(device: int | str | None, kind: str, problem: str, fix: str) -> str:
    sd = import_sounddevice()
    try:
        return str(sd.query_devices(device, kind=kind)["name"])
    except (ValueError, sd.PortAudioError) as e:
        raise DeviceError(problem, fix) from e


def read_audio_file(path: Path, max_s: float | None = None) -> AudioClip:
    """Decode any common audio file to mono 16 kHz float32; with `max_s`, only its first `max_s` seconds are
    decoded, as a microphone stops recording."""
    if not path.is_file():
        raise BadInputError(f"The sound file {path.name} does not exist.")
    return _decode(str(path), f"the sound file {path.name}", max_s, cut=True)


def decode_audio_bytes(data: bytes, what: str = "the recording", max_s: float | None = None) -> AudioClip:
    """Decode an uploaded recording in any common format (WAV, WebM/Opus, Ogg, MP3, M4A…); one longer than `max_s`
    is refused, before decoding when its container says how long it is, else as soon as decoding passes it."""
    if not data:
        raise BadInputError(f"{what.capitalize()} is empty.")
    return _decode(io.BytesIO(data), what, max_s, cut=False)


def _decode(source: str | io.BytesIO, what: str, max_s: float | None, cut: bool) -> AudioClip:
    import av

    limit = None if max_s is None else int(max_s * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    decoded = 0
    try:  # PyAV does the decoding and resampling
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            declared = container.duration / av.time_base if container.duration else 0.0
            if max_s is not None and not cut and declared > max_s:
                raise _too_long(what, declared, max_s)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in itertools.chain(container.decode(audio=0), [None]):  # None flushes the resampler
                for piece in resampler.resample(frame):
                    pieces.append(piece.to_ndarray().reshape(-1))
                    decoded += pieces[-1].size
                if limit is not None and decoded > limit:
                    if not cut:
                        raise _too_long(what, decoded / SAMPLE_RATE, max_s or 0.0, at_least=True)
                    _LOGGER.warning("%s is over %.0f s long: only its start is used", what, max_s)
                    break
    except AssistantError:
        raise
    except Exception as e:  # PyAV raises many kinds of errors for data it cannot decode
        raise BadInputError(f"I can't read {what}: it is not audio I understand.") from e
    samples = np.concatenate(pieces)[:limit].astype(np.float32) / 32768.0 if pieces else np.zeros(0, np.float32)
    if samples.size == 0:
        raise BadInputError(f"{what.capitalize()} holds no sound.")
    return AudioClip(samples, SAMPLE_RATE)


def _too_long(what: str, seconds: float, max_s: float, at_least: bool = False) -> TooLargeError:
    length = f"{seconds / 3600:.1f} hours" if seconds >= 3600 else f"{seconds:.0f} seconds"
    return TooLargeError(
        f"{what.capitalize()} is {'over ' if at_least else ''}{length} long; the longest I take is {max_s:g} seconds.",
        "Ask a shorter question.",
    )


class MicrophoneSource:
    """Records from a sounddevice InputStream between start() and stop(), capped at max_seconds."""

    def __init__(self, device: str = "", max_seconds: float = 30.0) -> None:
        self.device = device_spec(device)
        self.max_frames = int(max_seconds * SAMPLE_RATE)
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._lock = threading.Lock()
        self._stream: Any = None

    def check(self) -> str:
        """The input device's name, or a DeviceError if there is none."""
        return device_name(
            self.device,
            "input",
            f"I can't hear you: no microphone was found ({self.device or 'default input'}).",
            "Plug one in, or choose one with audio.input_device.",
        )

    def _on_audio(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        with self._lock:
            room = self.max_frames - self._frames
            if room > 0:
                block = indata[:room, 0].copy()
                self._blocks.append(block)
                self._frames += len(block)

    def start(self) -> None:
        sd = import_sounddevice()
        self.check()
        self._blocks, self._frames = [], 0
        try:
            self._stream = sd.InputStream(
                samplerate=SAMPLE_RATE, channels=1, dtype="float32", device=self.device, callback=self._on_audio
            )
            self._stream.start()
        except sd.PortAudioError as e:
            self._stream = None
            raise DeviceError("I can't hear you: the microphone would not start.", str(e)) from e

    def stop(self) -> AudioClip:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        with self._lock:
            samples = np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)
        return AudioClip(samples, SAMPLE_RATE)


class WavFileSource:
    """Each press-and-release takes the next file. By default it is decoded at the release, as recording would be.

    With realtime=True it is played as a microphone would deliver it: from the press, in blocks of 20 ms at its
    real pace, on a thread of its own; the release ends it, so a release before its end cuts it short. `late_ms`
    holds how late each block came: a block much later than its time is a glitch in the recording."""

    BLOCK_S = 0.02

    def __init__(self, paths: Sequence[Path], max_seconds: float = 30.0, realtime: bool = False) -> None:
        self.paths = list(paths)
        self.max_frames = int(max_seconds * SAMPLE_RATE)
        self.realtime = realtime
        self.late_ms: list[float] = []
        self._next = 0
        self._blocks: list[np.ndarray] = []
        self._stopped = threading.Event()
        self._feeder: threading.Thread | None = None

    @property
    def remaining(self) -> int:
        return len(self.paths) - self._next

    def start(self) -> None:
        if self._next >= len(self.paths):
            raise BadInputError("There are no more sound files to play as the microphone.")
        if self.realtime:
            clip = self._read(self.paths[self._next])
            self._blocks, self.late_ms = [], []
            self._stopped.clear()
            self._feeder = threading.Thread(target=self._feed, args=(clip,), name="wav-microphone", daemon=True)
            self._feeder.start()

    def _feed(self, clip: AudioClip) -> None:
        block = int(self.BLOCK_S * clip.sample_rate)
        started = time.monotonic()
        for index, first in enumerate(range(0, len(clip.samples), block)):
            due = started + (index + 1) * self.BLOCK_S
            if self._stopped.wait(max(0.0, due - time.monotonic())):
                return
            self.late_ms.append(max(0.0, (time.monotonic() - due) * 1000))
            self._blocks.append(clip.samples[first : first + block])

    def stop(self) -> AudioClip:
        path = self.paths[self._next]
        self._next += 1
        if self._feeder is None:
            return self._read(path)
        self._stopped.set()
        self._feeder.join()
        self._feeder = None
        samples = np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)
        return AudioClip(samples, SAMPLE_RATE)

    def _read(self, path: Path) -> AudioClip:
        return read_audio_file(path, self.max_frames / SAMPLE_RATE)


def list_devices() -> list[str]:
    """One line per PortAudio device, for `assistant doctor`."""
    sd = import_sounddevice()
    lines = []
    for index, info in enumerate(sd.query_devices()):
        ins, outs = info["max_input_channels"], info["max_output_channels"]
        lines.append(f"{index}: {info['name']} ({ins} in, {outs} out)")
    return lines
