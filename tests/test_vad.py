"""The gate before the model: silence, noise, clicks and whisper's phantom phrases never become questions."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import write_wav

from assistant.cli.main import main
from assistant.config import Config
from assistant.core.heard import check_heard
from assistant.core.phrases import BOOKS
from assistant.core.types import AudioClip, Transcript
from assistant.errors import AssistantError, NothingHeardError

EN = BOOKS["en"]
NOT_CAUGHT = EN.not_caught


def _noise(seconds: float, level: float = 0.1) -> np.ndarray:
    return (np.random.default_rng(7).standard_normal(int(16000 * seconds)) * level).astype(np.float32)


def _click() -> np.ndarray:
    audio = np.zeros(16000, np.float32)
    t = np.arange(3200) / 16000
    audio[6400:9600] = 0.6 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 30)
    return audio


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "audio", "message"),
    [
        ("silence", np.zeros(32000, np.float32), "I didn't hear a question."),
        ("white-noise", _noise(2.0), NOT_CAUGHT),
        ("click", _click(), NOT_CAUGHT),
    ],
)
def test_nothing_but_a_question_reaches_the_model(
    tmp_path: Path,
    config: Config,
    config_file: Path,
    question_wav: Path,
    image_file: Path,
    name: str,
    audio: np.ndarray,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wav = write_wav(tmp_path / f"{name}.wav", audio, 16000)
    log = tmp_path / "turns.jsonl"
    main(
        ["run", "--config", str(config_file), "--model", config.vlm.model, "--mmproj", config.vlm.mmproj]
        + ["--audio-in", str(wav), str(question_wav), "--camera", str(image_file)]
        + ["--audio-out", str(tmp_path / "answers"), "--log-turns", str(log)]
    )
    assert f"Sorry: {message}" in capsys.readouterr().out
    gated, asked = (json.loads(line) for line in log.read_text().splitlines())
    assert gated["error"] == message
    assert gated["messages"] == [] and gated["preset"] is None, "the model was not called"
    assert asked["error"] is None, "the loop went on"
    assert len(list((tmp_path / "answers").iterdir())) == 2, "the gate's answer was spoken"


def _clip() -> AudioClip:
    return AudioClip(_noise(1.0), 16000)


@pytest.mark.parametrize("phantom", ["Thank you.", "you", " Thanks for watching!", "谢谢观看"])
def test_whispers_phantom_phrases_are_not_questions(phantom: str) -> None:
    with pytest.raises(AssistantError, match=NOT_CAUGHT):
        check_heard(_clip(), Transcript(phantom, no_speech_prob=0.5, avg_logprob=-0.9, speech_s=0.5), EN)


def test_a_clear_question_passes_and_a_clear_thank_you_too() -> None:
    check_heard(
        _clip(), Transcript("Is it the blue one?", no_speech_prob=0.01, avg_logprob=-0.2, speech_s=1.1), BOOKS["en"]
    )
    check_heard(_clip(), Transcript("Thank you.", no_speech_prob=0.02, avg_logprob=-0.2, speech_s=0.9), EN)


def test_unsure_transcripts_and_too_little_speech_are_not_questions() -> None:
    with pytest.raises(AssistantError, match=NOT_CAUGHT):
        check_heard(_clip(), Transcript("What is it?", no_speech_prob=0.8, avg_logprob=-1.3, speech_s=1.0), EN)
    with pytest.raises(AssistantError, match=NOT_CAUGHT):
        check_heard(_clip(), Transcript("What?", speech_s=0.2), EN)
    with pytest.raises(NothingHeardError):
        check_heard(AudioClip(np.zeros(8000, np.float32), 16000), Transcript("you", speech_s=0.0), EN)
