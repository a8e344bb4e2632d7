"""A hundred turns through `assistant run` with files and the tiny model: memory and open files stay flat, and every
turn is logged (benchmarks/soak.py runs a thousand)."""

from pathlib import Path

import pytest

from benchmarks.soak import soak

pytestmark = pytest.mark.slow


def test_a_hundred_turns_keep_memory_and_files_flat_and_log_every_turn(tmp_path: Path) -> None:
    result = soak(100, tmp_path, every_s=0.2)
    assert result.exit_code == 0
    assert result.valid_lines == result.log_lines == 100
    assert result.growth < 0.05, f"resident memory grew {result.growth:.1%} from turn {result.settled_turn}"
    assert result.fd_growth <= 0, f"{result.fd_growth} more file descriptors open at the end"
