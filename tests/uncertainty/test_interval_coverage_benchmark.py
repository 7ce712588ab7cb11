"""benchmarks/interval_coverage.py, which makes docs/uncertainty.md's coverage table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from interval_coverage import main, row  # noqa: E402


def test_rows_show_the_widening_where_the_bootstrap_falls_short():
    seven = row("normal", 0.1, 3000, 7, seed=3)
    five = row("normal", 0.1, 3000, 5, seed=3)
    assert seven["bare"] < 0.92 < 0.94 <= seven["reported"]
    assert seven["width_ratio"] > 1.1
    assert five["width_ratio"] == pytest.approx(1.0)  # [min, max], not widened


def test_the_table_prints_one_line_per_count(capsys):
    assert main(["--cells", "400", "--repeats", "3,5,7", "--noise", "t3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines[2:]] == ["3", "5", "7"]
    assert [ln.split()[3] for ln in lines[2:]] == ["yes", "no", "yes"]


@pytest.mark.parametrize("argv", [["--repeats", "2,5"], ["--repeats", "x"], ["--cv", "0"]])
def test_bad_arguments_are_one_line_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()[-1]) > 0
