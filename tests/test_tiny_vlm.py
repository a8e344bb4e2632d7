from pathlib import Path

import pytest

from tools.tiny_vlm import main, write_tiny_vlm


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_the_same_seed_writes_the_same_bytes(tmp_path: Path, family: str) -> None:
    first = write_tiny_vlm(tmp_path / "a", family, seed=3)
    second = write_tiny_vlm(tmp_path / "b", family, seed=3)
    other = write_tiny_vlm(tmp_path / "c", family, seed=4)
    assert first.model.read_bytes() == second.model.read_bytes()
    assert first.mmproj.read_bytes() == second.mmproj.read_bytes()
    assert first.model.read_bytes() != other.model.read_bytes()
    assert first.model.stat().st_size < 1_000_000 and first.mmproj.stat().st_size < 1_000_000


def test_an_unknown_family_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown family"):
        write_tiny_vlm(tmp_path, "llava")
    with pytest.raises(SystemExit) as error:
        main([str(tmp_path), "--family", "llava"])
    assert error.value.code == 2


def test_the_command_prints_both_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--family", "qwen3-vl"]) == 0
    assert capsys.readouterr().out.split() == [
        str(tmp_path / "tiny-qwen3-vl.gguf"),
        str(tmp_path / "mmproj-tiny-qwen3-vl.gguf"),
    ]
