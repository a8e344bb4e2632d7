"""Audio in and out: the microphone and speaker through sounddevice, and WAV files standing in for them."""

from __future__ import annotations

import io
import logging
import threading
import time
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import BadInputError, DeviceError
from assistant.types import AudioChunk, AudioClip

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


def _device(spec: str) -> int | str | None:
    if not spec:
        return None
    return int(spec) if spec.isdigit() else spec


def _device_name(device: int | str | None, kind: str, problem: str, fix: str) -> str:
    sd = import_sounddevice()
    try:
        return str(sd.query_devices(device, kind=kind)["name"])
    except (ValueError, sd.PortAudioError) as e:
        raise DeviceError(problem, fix) from e


def read_audio_file(path: Path) -> AudioClip:
    """Decode any common audio file to mono 16 kHz float32."""
    if not path.is_file():
        raise BadInputError(f"The sound file {path.name} does not exist.")
    return _decode(str(path), f"the sound file {path.name}")


def decode_audio_bytes(data: bytes, what: str = "the recording") -> AudioClip:
    """Decode an uploaded recording in any common format (WAV, WebM/Opus, Ogg, MP3, M4A…)."""
    if not data:
        raise BadInputError(f"{what.capitalize()} is empty.")
    return _decode(io.BytesIO(data), what)


def _decode(source: str | io.BytesIO, what: str) -> AudioClip:
    from faster_whisper.audio import decode_audio

    try:  # PyAV does the decoding and resampling
        samples = decode_audio(source, sampling_rate=SAMPLE_RATE)
    except Exception as e:  # PyAV raises many kinds of errors for data it cannot decode
        raise BadInputError(f"I can't read {what}: it is not audio I understand.") from e
    if samples.size == 0:
        raise BadInputError(f"{what.capitalize()} holds no sound.")
    return AudioClip(samples.astype(np.float32, copy=False), SAMPLE_RATE)


def wav_bytes(chunks: Sequence[AudioChunk]) -> bytes:
    """Chunks of one sample rate as a 16-bit mono WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(chunks[0].sample_rate if chunks else SAMPLE_RATE)
        for chunk in chunks:
            writer.writeframes(_to_int16(chunk.samples).tobytes())
    return buffer.getvalue()


class MicrophoneSource:
    """Records from a sounddevice InputStream between start() and stop(), capped at max_seconds."""

    def __init__(self, device: str = "", max_seconds: float = 30.0) -> None:
        self.device = _device(device)
        self.max_frames = int(max_seconds * SAMPLE_RATE)
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._lock = threading.Lock()
        self._stream: Any = None

    def check(self) -> str:
        """The input device's name, or a DeviceError if there is none."""
        return _device_name(
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
    """Each press-and-release takes the next file; decoding happens at release, as recording would."""

    def __init__(self, paths: Sequence[Path], max_seconds: float = 30.0) -> None:
        self.paths = list(paths)
        self.max_frames = int(max_seconds * SAMPLE_RATE)
        self._next = 0

    @property
    def remaining(self) -> int:
        return len(self.paths) - self._next

    def start(self) -> None:
        if self._next >= len(self.paths):
            raise BadInputError("There are no more sound files to play as the microphone.")

    def stop(self) -> AudioClip:
        path = self.paths[self._next]
        self._next += 1
        clip = read_audio_file(path)
        if len(clip.samples) > self.max_frames:
            _LOGGER.warning("%s is over %.0f s long: only its start is used", path.name, self.max_frames / SAMPLE_RATE)
            clip = AudioClip(clip.samples[: self.max_frames], clip.sample_rate)
        return clip


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")


class SpeakerSink:
    """Plays chunks through a sounddevice OutputStream, checking `cancel` between blocks of ~50 ms."""

    def __init__(self, device: str = "") -> None:
        self.device = _device(device)

    def check(self) -> str:
        """The output device's name, or a DeviceError if there is none."""
        return _device_name(
            self.device,
            "output",
            f"No speaker was found ({self.device or 'default output'}).",
            "Plug one in, or choose one with audio.output_device.",
        )

    def play(self, chunks: Iterable[AudioChunk], cancel: threading.Event | None = None) -> int:
        sd = import_sounddevice()
        stream: Any = None
        played = 0
        try:
            for chunk in chunks:
                if cancel is not None and cancel.is_set():
                    break
                if stream is None:
                    stream = sd.OutputStream(
                        samplerate=chunk.sample_rate, channels=1, dtype="float32", device=self.device
                    )
                    stream.start()
                block = max(1, chunk.sample_rate // 20)
                for start in range(0, len(chunk.samples), block):
                    if cancel is not None and cancel.is_set():
                        return played
                    stream.write(np.ascontiguousarray(chunk.samples[start : start + block], dtype=np.float32))
                played += 1
        except sd.PortAudioError as e:
            raise DeviceError("I can't play sound: the speaker failed.", str(e)) from e
        finally:
            if stream is not None:
                # abort() drops what is still buffered, so an interruption is heard at once; stop() drains it.
                if cancel is not None and cancel.is_set():
                    stream.abort()
                else:
                    stream.stop()
                stream.close()
        return played

    def cue(self, sound: AudioChunk) -> None:
        threading.Thread(target=self._play_cue, args=(sound,), name="cue", daemon=True).start()

    def _play_cue(self, sound: AudioChunk) -> None:
        """On its own stream, so that it does not wait behind speech; the host mixes the two."""
        try:
            self.play([sound])
        except DeviceError as e:
            _LOGGER.warning("could not play the %s sound: %s", sound.text, e.message)

    def close(self) -> None:
        pass


class WavFileSink:
    """Writes each played answer to its own WAV file: answer-001.wav, answer-002.wav, … or one fixed path.

    With realtime=True it takes as long as a speaker would, in blocks of ~20 ms, and stops mid-chunk when
    cancelled, so interruptions can be measured on files."""

    def __init__(self, target: Path, single_file: bool = False, realtime: bool = False) -> None:
        self.target = target
        self.single_file = single_file
        self.realtime = realtime
        self.written: list[Path] = []
        self.chunk_times: list[float] = []
        """time.monotonic() at which each chunk started to play."""
        self.chunk_texts: list[str] = []
        self.sound_until = 0.0
        """time.monotonic() at which the audio written so far has finished playing."""
        self.cues: list[tuple[float, str]] = []
        """(time.monotonic(), name) of each earcon: they are timed, not written."""

    def _next_path(self) -> Path:
        if self.single_file:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            return self.target
        self.target.mkdir(parents=True, exist_ok=True)
        return self.target / f"answer-{len(self.written) + 1:03d}.wav"

    def play(self, chunks: Iterable[AudioChunk], cancel: threading.Event | None = None) -> int:
        writer: wave.Wave_write | None = None
        played = 0
        try:
            for chunk in chunks:
                if cancel is not None and cancel.is_set():
                    break
                if writer is None:
                    path = self._next_path()
                    writer = wave.open(str(path), "wb")  # noqa: SIM115 - closed in finally, after the last chunk
                    writer.setnchannels(1)
                    writer.setsampwidth(2)
                    writer.setframerate(chunk.sample_rate)
                    self.written.append(path)
                self.chunk_times.append(time.monotonic())
                self.chunk_texts.append(chunk.text)
                if not self._write(writer, chunk, cancel):
                    break
                played += 1
        except OSError as e:
            raise DeviceError(f"I can't write the answer's sound file: {e.strerror}.") from e
        finally:
            if writer is not None:
                writer.close()
        return played

    def cue(self, sound: AudioChunk) -> None:
        self.cues.append((time.monotonic(), sound.text))

    def _write(self, writer: wave.Wave_write, chunk: AudioChunk, cancel: threading.Event | None) -> bool:
        """Write one chunk; False if cancelled before its end."""
        if not self.realtime:
            writer.writeframes(_to_int16(chunk.samples).tobytes())
            self.sound_until = time.monotonic()
            return True
        block = chunk.sample_rate // 50
        started = time.monotonic()
        for start in range(0, len(chunk.samples), block):
            if cancel is not None and cancel.is_set():
                return False
            samples = chunk.samples[start : start + block]
            writer.writeframes(_to_int16(samples).tobytes())
            self.sound_until = started + (start + len(samples)) / chunk.sample_rate
            ahead = self.sound_until - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        return True

    def close(self) -> None:
        pass


def list_devices() -> list[str]:
    """One line per PortAudio device, for `assistant doctor`."""
    sd = import_sounddevice()
    lines = []
    for index, info in enumerate(sd.query_devices()):
        ins, outs = info["max_input_channels"], info["max_output_channels"]
        lines.append(f"{index}: {info['name']} ({ins} in, {outs} out)")
    return lines
