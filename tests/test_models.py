import hashlib
from pathlib import Path

import pytest

from assistant.config import Config
from assistant.errors import AssistantError, ModelError
from assistant.think.catalog import GB, catalog_entry, choose, load_catalog
from assistant.think.hubs import HubFile, pick_file, pull, verify
from assistant.think.machine import Gpu, Machine, detect_machine, memory_bytes
from assistant.think.models import find_vlm, find_vlm_pairs, vlm_pair, voice_path, whisper_path

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
    assert pick_file(LISTING, entry.model_patterns("Q4_K_M"), exclude_mmproj=True) == "Qwen3VL-2B-Instruct-Q4_K_M.gguf"
    assert pick_file(LISTING, entry.model_patterns("F16"), exclude_mmproj=True) == "Qwen3VL-2B-Instruct-F16.gguf"
    assert pick_file(LISTING, entry.mmproj_patterns, exclude_mmproj=False) == "mmproj-Qwen3VL-2B-Instruct-F16.gguf"
    assert pick_file(["a.txt"], entry.model_patterns("Q4_K_M"), exclude_mmproj=True) is None


def test_the_catalog_names_its_entries() -> None:
    entries = {entry.name: entry for entry in load_catalog(PROJECT_MODELS)}
    assert {"lfm2-vl-450m", "qwen3-vl-2b", "qwen3-vl-4b", "qwen3-vl-8b", "qwen2.5-vl-3b"} <= set(entries)
    assert {entry.tier for entry in entries.values()} == {"fast", "balanced", "best"}
    assert set(entries["qwen3-vl-8b"].quants) == {"Q4_K_M", "Q8_0", "F16"}
    with pytest.raises(AssistantError, match="comes in Q4_K_M, Q8_0, F16, not Q4_0"):
        entries["qwen3-vl-8b"].check_quant("Q4_0")
    with pytest.raises(AssistantError, match="no model called nope"):
        catalog_entry(PROJECT_MODELS, "nope")


def test_pull_offline_says_what_to_do(tmp_path: Path) -> None:
    entry = catalog_entry(PROJECT_MODELS, None)
    with pytest.raises(AssistantError, match=f"can't get the file list of {entry.repo} on Hugging Face") as error:
        pull(entry, tmp_path, print)
    assert "place the model files in the models folder" in error.value.fix
    assert not any(tmp_path.iterdir()), "nothing half-written"


def test_downloads_are_checked_against_size_and_sha256(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"weights")
    verify(path, HubFile("model.gguf", 7, hashlib.sha256(b"weights").hexdigest()), print)
    assert "verified" in capsys.readouterr().out
    with pytest.raises(ModelError, match="not 8"):
        verify(path, HubFile("model.gguf", 8, None), print)
    with pytest.raises(ModelError, match="does not match its published checksum"):
        verify(path, HubFile("model.gguf", 7, "0" * 64), print)


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


CATALOG = load_catalog(PROJECT_MODELS)


def _machine(cores: int, memory_gb: float, gpu_gb: float = 0) -> Machine:
    gpus = (Gpu("CUDA0", "a test GPU", int(gpu_gb * GB), int(gpu_gb * GB)),) if gpu_gb else ()
    return Machine(cores, int(memory_gb * GB), gpus)


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (_machine(2, 8), ("lfm2-vl-450m", "Q8_0")),
        (_machine(4, 8), ("lfm2-vl-1.6b", "Q4_0")),
        (_machine(8, 3), ("lfm2-vl-1.6b", "Q4_0")),  # many cores, little memory
        (_machine(8, 16), ("qwen3-vl-2b", "Q4_K_M")),
        (_machine(16, 32), ("qwen3-vl-4b", "Q4_K_M")),
        (_machine(8, 32, gpu_gb=24), ("qwen3-vl-8b", "F16")),  # the write-up's 24 GB GPU
        (_machine(8, 32, gpu_gb=12), ("qwen3-vl-8b", "Q8_0")),
        (_machine(8, 32, gpu_gb=8), ("qwen3-vl-8b", "Q4_K_M")),
        (_machine(8, 16, gpu_gb=6), ("qwen3-vl-4b", "Q4_K_M")),
        (_machine(4, 8, gpu_gb=2), ("lfm2-vl-450m", "Q8_0")),  # what fits a small GPU
        (_machine(2, 1.0), ("lfm2-vl-450m", "Q4_0")),  # only the smallest fits
    ],
)
def test_auto_chooses_a_tier_and_quant_for_the_machine(machine: Machine, expected: tuple[str, str]) -> None:
    choice = choose(CATALOG, machine)
    assert (choice.entry.name, choice.quant) == expected
    assert choice.reason


def test_a_tier_or_quant_asked_for_is_kept() -> None:
    assert choose(CATALOG, _machine(2, 8), "balanced").entry.name == "qwen3-vl-2b"
    assert choose(CATALOG, _machine(8, 32, gpu_gb=24), "best", "Q4_K_M").quant == "Q4_K_M"
    with pytest.raises(AssistantError, match=r"vlm\.tier is 'huge'"):
        choose(CATALOG, _machine(2, 8), "huge")
    with pytest.raises(AssistantError, match=r"vlm\.quant is 'Q3'"):
        choose(CATALOG, _machine(2, 8), "auto", "Q3")


def test_this_machine_is_described() -> None:
    machine = detect_machine()
    assert machine.cores >= 1 and 0 < machine.memory <= memory_bytes()
    assert machine.gpus == (), "CI builds llama.cpp for the CPU"
    assert "no GPU" in machine.describe()


def _pulled(models_dir: Path, folder: str) -> Path:
    (models_dir / folder).mkdir(parents=True)
    (models_dir / folder / "Model-Q.gguf").write_bytes(b"")
    (models_dir / folder / "mmproj-Model-F16.gguf").write_bytes(b"")
    return models_dir / folder / "Model-Q.gguf"


def test_of_the_pulled_models_the_tier_chooses_and_one_placed_by_hand_wins(tmp_path: Path) -> None:
    fast = _pulled(tmp_path, "lfm2-vl-450m-Q8_0")
    balanced = _pulled(tmp_path, "qwen3-vl-2b-Q4_K_M")
    config = Config().with_overrides({"paths.models_dir": str(tmp_path)})
    found = find_vlm(config, _machine(2, 8))
    assert found is not None and found.pair.model == fast and "vlm.tier auto chose it" in found.why
    found = find_vlm(config, _machine(8, 16))
    assert found is not None and found.pair.model == balanced
    found = find_vlm(config.with_overrides({"vlm.tier": "fast"}), _machine(8, 16))
    assert found is not None and found.pair.model == fast
    # the best tier is not pulled: a pulled one is used, and the reason says what to pull
    found = find_vlm(config, _machine(16, 32))
    assert found is not None and "assistant models pull qwen3-vl-4b --quant Q4_K_M" in found.why
    by_hand = _pulled(tmp_path, "my-own-model")
    found = find_vlm(config, _machine(2, 8))
    assert found is not None and found.pair.model == by_hand and "by hand" in found.why


def test_assistant_models_lists_the_tiers_their_quants_and_the_choice_for_this_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.cli.main import main

    config = tmp_path / "config.toml"
    config.write_text(f'[paths]\nmodels_dir = "{tmp_path}"\n')
    assert main(["models", "--config", str(config)]) == 0
    printed = capsys.readouterr().out.splitlines()
    [eight_b] = [line for line in printed if "qwen3-vl-8b:" in line]
    assert eight_b.lstrip().startswith("best:")
    assert all(f"{quant} " in eight_b for quant in ("Q4_K_M", "Q8_0", "F16"))
    assert any(line.lstrip().startswith("fast: lfm2-vl-450m:") for line in printed)
    assert any(line.startswith("For it, vlm.tier auto chooses ") for line in printed)
