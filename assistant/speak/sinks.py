"""Audio out: the speaker through sounddevice, and WAV files standing in for it."""

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

from assistant.core.types import AudioChunk
from assistant.errors import DeviceError
from assistant.hear.audio import SAMPLE_RATE, device_name, device_spec, import_sounddevice

_LOGGER = logging.getLogger(__name__)


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


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")


class SpeakerSink:
    """Plays chunks through a sounddevice OutputStream, checking `cancel` between blocks of ~50 ms."""

    def __init__(self, device: str = "") -> None:
        self.device = device_spec(device)

    def check(self) -> str:
        """The output device's name, or a DeviceError if there is none."""
        return device_name(
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
