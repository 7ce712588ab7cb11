"""benchmarks/plan_noise.py: the plan sized at a pilot's noise, beside an adaptive run."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from plan_noise import main, parse_targets  # noqa: E402


def test_targets_parse_and_bad_ones_stop_the_run():
    assert parse_targets("ttft_p50_s=0.05,tbt_p50_s=0.1") == {"ttft_p50_s": 0.05,
                                                              "tbt_p50_s": 0.1}
    with pytest.raises(SystemExit):
        main(["--targets", "ttft_p50_s"])


def test_the_pilot_sizes_the_plan_closer_than_a_wrong_assumption(capsys):
    # the smoke grid at one clock; a loose TTFT target that 3 repeats meet at the
    # simulator's noise: an assumed 50 % CV plans the cap, the pilot plans about 3
    assert main(["--preset", "smoke", "--clocks", "1980", "--assume", "0.5",
                 "--targets", "ttft_p50_s=0.2"]) == 0
    out = capsys.readouterr().out
    gap = {m.group(1): float(m.group(2)) for m in re.finditer(
        r"plan at (assumed CV 50%|the pilot's table)\s+[\d.]+ GPU-h \(([-+\d.]+)% vs", out)}
    assert set(gap) == {"assumed CV 50%", "the pilot's table"}
    assert abs(gap["the pilot's table"]) < 20 < abs(gap["assumed CV 50%"])
