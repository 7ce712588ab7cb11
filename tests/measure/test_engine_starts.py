"""load.engine_starts: an instance's repeats spread over several engine starts.

The blocks of repeat rounds and the bad-input lines directly; then `greenllm measure` end
to end on the simulated GPU + engine (its own server process per start): the engine is
started again where a block ends, each load point records its start, spend.json counts
the starts, and the first start's search and baselines are not repeated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greenllm.analysis.cells import load_summary
from greenllm.analysis.flatten import rows_to_frame, summary_rows
from greenllm.measure.engine_starts import problems, start_of
from simtest_helpers import TINY_SIM_MEASURE, measure_cli


def test_repeat_rounds_in_consecutive_near_equal_blocks():
    assert [start_of(r, 5, 2) for r in range(5)] == [0, 0, 0, 1, 1]
    assert [start_of(r, 5, 5) for r in range(5)] == [0, 1, 2, 3, 4]
    assert [start_of(r, 6, 3) for r in range(6)] == [0, 0, 1, 1, 2, 2]
    assert {start_of(r, 5, 1) for r in range(5)} == {0}


@pytest.mark.parametrize("starts, cap, expect", [
    (0, 5, "must be an integer >= 1"),
    (True, 5, "must be an integer >= 1"),
    (1.5, 5, "must be an integer >= 1"),
    (6, 5, "above the 5 repeat(s)"),
])
def test_bad_engine_starts_is_one_line(starts, cap, expect):
    (line,) = problems(starts, cap)
    assert expect in line and line.startswith("load.engine_starts=")
    assert problems(2, 5) == [] and problems(5, 5) == []


def _measure(tmp_path: Path, *overrides: str):
    return measure_cli(tmp_path, [*TINY_SIM_MEASURE, "clocks.mhz=[1980]", "load.points=[]",
                                  "load.rates_rps=[3]", "load.requests_per_point=8",
                                  *overrides])


def test_repeats_over_two_starts_end_to_end(tmp_path):
    run = _measure(tmp_path, "load.repeats=4", "load.engine_starts=2")
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    s = load_summary(path)
    assert s["status"] == "ok"
    by_repeat = {p["repeat"]: p["engine_start"] for p in s["load_points"]}
    assert by_repeat == {0: 0, 1: 0, 2: 1, 3: 1}
    assert run.stderr.count("engine ready in") == 2
    assert "engine start 2/2 (load.engine_starts) before repeat 3" in run.stderr
    assert run.stderr.count("SLO baseline for") == 1  # baselines stay in the first start
    spend = json.loads((tmp_path / "raw/spend.json").read_text())
    assert spend["engine_starts"] == 2 and spend["repeats"] == 4
    table = rows_to_frame(summary_rows(s, path)).sort_values("repeat")
    assert table["engine_start"].tolist() == [0, 0, 1, 1]  # the cells table's column


def test_a_resumed_run_numbers_its_engine_after_the_recorded_starts(tmp_path):
    # 3 repeats over 2 starts (rounds 1-2, 3), then a rerun asking for 4: round 4 falls
    # in the second block, but it runs in the rerun's own engine, a third start
    first = _measure(tmp_path, "load.repeats=3", "load.engine_starts=2")
    assert first.returncode == 0, first.stderr[-2000:]
    again = _measure(tmp_path, "load.repeats=4", "load.engine_starts=2")
    assert again.returncode == 0, again.stderr[-2000:]
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    s = load_summary(path)
    assert {p["repeat"]: p["engine_start"] for p in s["load_points"]} == {0: 0, 1: 0, 2: 1,
                                                                          3: 2}


def test_one_start_records_no_start_index(tmp_path):
    run = _measure(tmp_path, "load.repeats=2")
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    s = load_summary(path)
    assert all("engine_start" not in p for p in s["load_points"])
    assert rows_to_frame(summary_rows(s, path))["engine_start"].isna().all()
    assert json.loads((tmp_path / "raw/spend.json").read_text())["engine_starts"] == 1


@pytest.mark.parametrize("overrides, expect", [
    (["load.repeats=2", "load.engine_starts=3"], "above the 2 repeat(s)"),
    (["load.engine_starts=0"], "must be an integer >= 1"),
])
def test_bad_engine_starts_stops_before_any_gpu_time(tmp_path, overrides, expect):
    run = _measure(tmp_path, *overrides)
    assert run.returncode == 2, run.stderr[-2000:]
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("greenllm: error:")]
    assert errors and expect in " ".join(errors) and "Traceback" not in run.stderr
    assert not (tmp_path / "raw/spend.json").exists()
