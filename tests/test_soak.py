"""A hundred turns through `assistant run` with files and the tiny model: open files stay flat, every turn is
logged, and memory is noted at every turn (benchmarks/soak.py runs a thousand and reports how memory grows)."""

from pathlib import Path

import pytest

from benchmarks.soak import soak

pytestmark = pytest.mark.slow


def test_a_hundred_turns_keep_open_files_flat_and_log_every_turn(tmp_path: Path) -> None:
    result = soak(100, tmp_path)
    assert result.exit_code == 0
    assert result.valid_lines == result.log_lines == 100
    assert result.fd_growth <= 0, f"{result.fd_growth} more file descriptors open at the end"
    assert [sample.turn for sample in result.samples] == list(range(1, 101)), "a turn's memory was not noted"
