from pathlib import Path

import pytest

from assistant.config import Config, describe_settings, load_config
from assistant.errors import BadInputError


def test_toml_overrides_defaults_and_flags_override_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[vlm]\nn_ctx = 8192\nmodel = "m/model.gguf"\n[tts]\nspeech_rate = 1\n[camera]\nsource = 2\n')
    config = load_config(path)
    assert config.vlm.n_ctx == 8192
    assert config.vlm.model == str(tmp_path / "m" / "model.gguf"), "relative paths are relative to the file"
    assert config.tts.speech_rate == 1.0
    assert config.camera.source == "2"
    assert config.stt.beam_size == Config().stt.beam_size
    flagged = config.with_overrides({"vlm.n_ctx": 1024, "vlm.model": None})
    assert flagged.vlm.n_ctx == 1024
    assert flagged.vlm.model == config.vlm.model


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[vlm]\nn_ctxx = 1\n", "unknown setting 'vlm.n_ctxx'"),
        ("[vision]\nn_ctx = 1\n", "unknown section 'vision'"),
        ('[vlm]\nn_ctx = "big"\n', "'vlm.n_ctx' should be a whole number"),
        ("[vlm\n", "cannot be read"),
    ],
)
def test_bad_config_files_get_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(BadInputError, match=message):
        load_config(path)


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"does not exist"):
        load_config(tmp_path / "nope.toml")


def test_every_setting_is_documented() -> None:
    lines = describe_settings()
    assert any(line.startswith("vlm.n_ctx = 4096  # ") for line in lines)
    assert all("  # " in line and not line.endswith("# ") for line in lines)
    assert len(lines) >= 25


def test_readme_lists_every_setting() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [line for line in describe_settings() if line not in readme]
    assert missing == [], "README.md's settings list is out of date"
