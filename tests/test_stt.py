import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import normalise

from assistant.core.types import AudioClip
from assistant.errors import BadInputError, ModelError
from assistant.hear.audio import read_audio_file
from assistant.hear.stt import SttOptions, WhisperTranscriber, without_repeats


@pytest.mark.parametrize(
    "question", ["What is in front of me?", "Read this label.", "Is it the blue one?", "What colour is my shirt?"]
)
def test_real_whisper_transcribes_real_speech_exactly(
    transcriber: WhisperTranscriber, speak: Callable[..., Path], question: str
) -> None:
    transcript = transcriber.transcribe(read_audio_file(speak(question)))
    assert normalise(transcript.text) == normalise(question).replace("colour", "color") or normalise(
        transcript.text
    ) == normalise(question)
    assert transcript.language == "en"


def test_tiny_en_is_english_only(transcriber: WhisperTranscriber) -> None:
    assert transcriber.language == "en"


def test_silence_gives_an_empty_transcript(transcriber: WhisperTranscriber) -> None:
    assert transcriber.transcribe(AudioClip(np.zeros(32000, np.float32), 16000)).text == ""


def test_a_missing_whisper_folder_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"speech model folder .*missing") as error:
        WhisperTranscriber(tmp_path / "whisper-nothing")
    assert "./setup.sh" in error.value.fix


def test_a_damaged_whisper_model_names_the_folder(tmp_path: Path, whisper_dir: Path) -> None:
    broken = tmp_path / "broken-whisper"
    shutil.copytree(whisper_dir, broken)
    (broken / "model.bin").write_bytes(b"\0" * 1000)
    with pytest.raises(ModelError, match=r"broken-whisper is damaged"):
        WhisperTranscriber(broken)


def test_speech_recognition_stays_on_the_cpu_without_cuda_and_says_so_when_cuda_is_asked_for(
    whisper_dir: Path,
) -> None:
    # this machine has no GPU: auto takes the CPU, and asking for CUDA is refused in plain words
    assert WhisperTranscriber(whisper_dir, SttOptions(device="auto")).device == "cpu"
    with pytest.raises(ModelError, match="Speech recognition cannot run on CUDA here") as error:
        WhisperTranscriber(whisper_dir, SttOptions(device="cuda"))
    assert "stt.device" in error.value.fix
    with pytest.raises(BadInputError, match=r"stt\.device is 'tpu'"):
        WhisperTranscriber(whisper_dir, SttOptions(device="tpu"))


@pytest.mark.parametrize(
    ("heard", "said"),
    [
        ("Say that again. Say that again. Say that again. Say", "Say that again."),
        ("Stop. Stop. Stop. Stop.", "Stop."),
        ("Repeat, repeat, repeat, rep", "Repeat"),
        ("Slow down, slow down.", "Slow down"),
        ("What is it? Light light light light, please.", "What is it? Light please."),
        ("停下。停下。停下。", "停下。"),
        ("再说一遍，再说一遍，再说", "再说一遍"),
    ],
)
def test_whisper_loops_are_heard_once(heard: str, said: str) -> None:
    assert without_repeats(heard) == said


@pytest.mark.parametrize(
    "said", ["No, no, tell me more.", "It had had a label.", "谢谢你", "看看这个", "Is there a stop sign ahead?", ""]
)
def test_words_said_twice_on_purpose_stay(said: str) -> None:
    assert without_repeats(said) == said
