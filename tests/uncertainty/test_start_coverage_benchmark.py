"""benchmarks/start_coverage.py: what load.engine_starts buys an interval (synthetic)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from start_coverage import main, row  # noqa: E402


def test_without_start_offsets_the_starts_change_nothing():
    for k in (1, 5):
        assert row(0.0, 0.10, 5, k, 6000)["coverage"] == pytest.approx(0.9375, abs=0.015)


def test_start_offsets_break_one_start_and_more_starts_mend_it():
    """H100-like TTFT: start-to-start 10 %, repeats 10 %. All 5 repeats in one start hold
    the truth about two times in three; spread over 5 starts, 93-95 %, for wider bars."""
    rows = [row(0.10, 0.10, 5, k, 6000, seed=2) for k in (1, 2, 5)]
    cover = [r["coverage"] for r in rows]
    assert cover[0] < 0.75 < cover[1] < cover[2]
    assert cover[2] > 0.92
    assert rows[0]["width"] < rows[2]["width"]


def test_cli(capsys):
    assert main(["--cells", "500", "--repeats", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines[2:]] == ["1", "2", "3", "4"]
    with pytest.raises(SystemExit):
        main(["--repeats", "2"])
