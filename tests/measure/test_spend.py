"""A run reports what it spent: GPU time held, GPU time inside windows, engine starts."""

from __future__ import annotations

import json
import time

import pytest

from greenllm.analysis.cells import load_summary
from greenllm.analysis.flatten import rows_to_frame, summary_rows
from greenllm.figures.measurement_notes import spend_note
from greenllm.measure.spend import SpendLedger, campaign_total, read_spend, write_spend
from simtest_helpers import measure_cli


def test_ledger_counts_gpu_seconds_and_adds_runs(tmp_path):
    a = SpendLedger(gpus=2)
    a.engine_started(30.0)
    a.window(10.0, "probe")
    a.window(20.0, "point")
    a.hold(100.0)
    assert a.gpu_s_held == 200.0 and a.gpu_s_in_windows == 60.0 and a.fraction_in_windows == 0.3
    assert (a.probes, a.load_points, a.engine_starts) == (1, 1, 1)
    write_spend(tmp_path, a, None)
    b = SpendLedger(gpus=2)
    b.engine_started(30.0)
    b.hold(50.0)
    total = write_spend(tmp_path, b, read_spend(tmp_path))
    back = read_spend(tmp_path)
    assert back == total and back.held_s == 150.0 and back.engine_starts == 2 and back.runs == 2
    one = SpendLedger(gpus=1, held_s=10.0, window_s=5.0, engine_starts=1)
    t = campaign_total([back, one])
    assert t["gpu_s_held"] == 310.0 and t["gpu_s_in_windows"] == 65.0 and t["engine_starts"] == 3


TINY = [
    "model=llama-1b", "engine=sim", "instance=tp1", "workload.ids=[S-S]", "clocks.mhz=[1980]",
    "load=smoke", "load.points=[low]", "load.rates_rps=[3]", "load.requests_per_point=8", "load.min_duration_s=0.2",
    "load.warmup_requests=1", "search=smoke", "search.max_probes=3",
    "search.requests_per_probe=8", "search.probe_min_duration_s=0.2", "search.confirm_repeats=0",
    "slo.baseline_requests=2",
]


def test_a_run_writes_its_spend_into_the_results(tmp_path):
    t0 = time.monotonic()
    run = measure_cli(tmp_path, TINY)
    wall = time.monotonic() - t0
    assert run.returncode == 0, run.stderr[-2000:]
    spend = json.loads((tmp_path / "raw/spend.json").read_text())
    assert spend["engine_starts"] == 1 and spend["gpus"] == 1 and spend["runs"] == 1
    assert 0 < spend["engine_start_s"] < spend["held_s"] < wall
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    s = load_summary(path)
    mt = s["max_throughput"]
    points = [p["duration_s"] for p in s["load_points"] if p.get("duration_s") is not None]
    windows = sum(p["duration_s"] for p in mt["probes"]) + sum(points)
    assert spend["window_s"] == pytest.approx(windows) and spend["window_s"] < spend["held_s"]
    assert spend["probes"] == len(mt["probes"]) and spend["load_points"] == len(points) == 2
    assert s["instance_spend"]["gpu_s_held"] == spend["gpu_s_held"]
    assert "inside measurement windows" in run.stderr
    table = rows_to_frame(summary_rows(s, path))
    (note,) = spend_note(table)
    assert note.startswith(f"Campaign spend: {spend['gpu_s_held'] / 3600:.2f} GPU-h held")
    assert "1 engine start(s)" in note
    # nothing left to measure: no engine start, nothing added
    again = measure_cli(tmp_path, TINY)
    assert again.returncode == 0
    assert json.loads((tmp_path / "raw/spend.json").read_text())["runs"] == 1


def test_a_virtual_run_states_no_share_of_wall_time():
    """A virtual engine's windows are simulated seconds, its time held is the wall
    clock's: the footnote gives the simulated GPU-h and no (meaningless) share."""
    from greenllm.measure.spend import footnote

    real = footnote(3600.0, 3000.0, 2)
    assert "83% inside" in real and "1.00 GPU-h held" in real
    for virtual in (footnote(10.0, 36000.0, 1), footnote(7200.0, 3600.0, 1, virtual_time=True)):
        assert "simulated time inside measurement windows" in virtual and "%" not in virtual
