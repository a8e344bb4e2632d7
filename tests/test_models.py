import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.config import Config
from assistant.errors import AssistantError, ModelError
from assistant.think.models import (
    _verify,
    catalog_entry,
    find_vlm_pairs,
    load_catalog,
    pick_file,
    pull,
    vlm_pair,
    voice_path,
    whisper_path,
)

PROJECT_MODELS = Path(__file__).resolve().parent.parent / "models"
LISTING = [
    "README.md",
    "Qwen3VL-2B-Instruct-F16.gguf",
    "Qwen3VL-2B-Instruct-Q4_K_M.gguf",
    "Qwen3VL-2B-Instruct-Q8_0.gguf",
    "mmproj-Qwen3VL-2B-Instruct-F16.gguf",
    "mmproj-Qwen3VL-2B-Instruct-Q8_0.gguf",
]


def test_files_are_picked_by_pattern_from_the_listing() -> None:
    entry = catalog_entry(PROJECT_MODELS, None)
    assert entry.default
    assert pick_file(LISTING, entry.model_patterns, exclude_mmproj=True) == "Qwen3VL-2B-Instruct-Q4_K_M.gguf"
    assert pick_file(LISTING, entry.mmproj_patterns, exclude_mmproj=False) == "mmproj-Qwen3VL-2B-Instruct-F16.gguf"
    assert pick_file(["a.txt"], entry.model_patterns, exclude_mmproj=True) is None


def test_the_catalog_names_its_entries() -> None:
    names = [entry.name for entry in load_catalog(PROJECT_MODELS)]
    assert "qwen3-vl-2b" in names and "qwen2.5-vl-3b" in names
    with pytest.raises(AssistantError, match="no model called nope"):
        catalog_entry(PROJECT_MODELS, "nope")


def test_pull_offline_says_what_to_do(tmp_path: Path) -> None:
    entry = catalog_entry(PROJECT_MODELS, None)
    with pytest.raises(AssistantError, match=f"can't get the file list of {entry.repo} from the model hub") as error:
        pull(entry, tmp_path, print)
    assert "place the model files in the models folder" in error.value.fix
    assert not any(tmp_path.iterdir()), "nothing half-written"


def test_downloads_are_checked_against_size_and_sha256(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"weights")
    good = SimpleNamespace(size=7, lfs=SimpleNamespace(sha256=hashlib.sha256(b"weights").hexdigest()))
    _verify(path, good, print)
    assert "verified" in capsys.readouterr().out
    with pytest.raises(ModelError, match="not 8"):
        _verify(path, SimpleNamespace(size=8, lfs=None), print)
    with pytest.raises(ModelError, match="does not match its published checksum"):
        _verify(path, SimpleNamespace(size=7, lfs=SimpleNamespace(sha256="0" * 64)), print)


def test_a_pair_is_found_in_a_models_sub_folder(tmp_path: Path) -> None:
    folder = tmp_path / "some-model"
    folder.mkdir()
    (folder / "Model-Q4_K_M.gguf").write_bytes(b"")
    (folder / "mmproj-Model-F16.gguf").write_bytes(b"")
    (tmp_path / "lonely.gguf").write_bytes(b"")
    [pair] = find_vlm_pairs(tmp_path)
    assert (pair.model.name, pair.mmproj.name) == ("Model-Q4_K_M.gguf", "mmproj-Model-F16.gguf")
    assert vlm_pair(Config().with_overrides({"paths.models_dir": str(tmp_path)})) == pair


def test_a_model_without_its_mmproj_is_named(tmp_path: Path) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"")
    with pytest.raises(ModelError, match="No vision projector"):
        vlm_pair(Config().with_overrides({"vlm.model": str(model)}))


def test_defaults_fall_back_to_the_bundled_packages(tmp_path: Path, whisper_dir: Path, voice_file: Path) -> None:
    config = Config().with_overrides({"paths.models_dir": str(tmp_path), "paths.voices_dir": str(tmp_path)})
    assert whisper_path(config) == whisper_dir
    assert voice_path(config) == voice_file
    assert vlm_pair(config) is None


def test_the_suite_really_is_offline() -> None:
    import socket

    with pytest.raises(ConnectionRefusedError, match="tests are offline"):
        socket.create_connection(("203.0.113.7", 443), timeout=2)
