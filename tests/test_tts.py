from pathlib import Path

import numpy as np
import pytest

from assistant.errors import ModelError
from assistant.speak.tts import PiperSynthesizer, SpeechOptions


def test_one_chunk_per_sentence_at_the_voices_rate(synthesizer: PiperSynthesizer) -> None:
    chunks = list(synthesizer.synthesize("A red mug. It is on the left."))
    assert len(chunks) == 2
    assert all(chunk.sample_rate == synthesizer.sample_rate == 22050 for chunk in chunks)
    assert all(np.sqrt(np.mean(chunk.samples**2)) > 0.01 for chunk in chunks), "speech is not silent"


def test_speech_is_repeatable_with_noise_off(synthesizer: PiperSynthesizer) -> None:
    first = np.concatenate([c.samples for c in synthesizer.synthesize("The door is open.")])
    second = np.concatenate([c.samples for c in synthesizer.synthesize("The door is open.")])
    assert np.array_equal(first, second)


def test_speech_rate_changes_the_length(voice_file: Path) -> None:
    def seconds(rate: float) -> float:
        chunks = voice.synthesize("The bus stop is ten steps ahead.", rate)
        return sum(len(c.samples) for c in chunks) / 22050

    voice = PiperSynthesizer(voice_file, SpeechOptions(noise_scale=0, noise_w_scale=0))

    normal, fast, slow = seconds(1.0), seconds(1.5), seconds(0.7)
    assert fast < 0.85 * normal
    assert slow > 1.25 * normal


def test_markdown_is_not_read_aloud(synthesizer: PiperSynthesizer) -> None:
    plain = np.concatenate([c.samples for c in synthesizer.synthesize("A red mug.")])
    marked = np.concatenate([c.samples for c in synthesizer.synthesize("**A red mug.**")])
    assert len(marked) == len(plain)


def test_a_missing_voice_names_the_file_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"voice file .*nobody.onnx is missing") as error:
        PiperSynthesizer(tmp_path / "nobody.onnx")
    assert "tts.voice" in error.value.fix


def test_a_damaged_voice_names_the_file(tmp_path: Path, voice_file: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    (tmp_path / "broken.onnx.json").write_text(Path(str(voice_file) + ".json").read_text())
    with pytest.raises(ModelError, match=r"The voice broken.onnx is damaged"):
        PiperSynthesizer(broken)
