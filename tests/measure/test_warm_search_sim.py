"""`greenllm measure` on the simulator: each cell's search starts from the nearest clock
already searched, the first from the simulator's prediction; coverage is unchanged."""

from __future__ import annotations

import subprocess

from greenllm.analysis.cells import load_summary
from simtest_helpers import finish, measure_cli

TINY = [
    "model=llama-1b", "engine=sim", "instance=tp1", "workload.ids=[S-S]", "load=smoke",
    "load.points=[low]", "load.requests_per_point=8", "load.min_duration_s=0.2",
    "load.warmup_requests=1", "search=smoke", "search.max_probes=6",
    "search.requests_per_probe=8", "search.probe_min_duration_s=0.2", "search.confirm_repeats=0",
    "slo.baseline_requests=2", "clocks.mhz=[1980,1700]",
]


def _start(tmp_path, *overrides) -> subprocess.Popen:
    return measure_cli(tmp_path, [*TINY, *overrides], wait=False)


def test_search_starts_from_the_prediction_then_the_neighbouring_clock(tmp_path):
    # The warm and the cold run side by side (each waits on its simulated server most of
    # the time; their own state dirs and servers keep them apart).
    warm = _start(tmp_path)
    cold = _start(tmp_path / "cold", "search.warm_start=false")
    run, cold = finish(warm, 240), finish(cold, 240)
    assert run.returncode == 0, run.stderr[-2000:]
    first = load_summary(tmp_path / "raw/cells/f1980/S-S/summary.json")["max_throughput"]
    second = load_summary(tmp_path / "raw/cells/f1700/S-S/summary.json")["max_throughput"]
    assert first["prior"]["source"] == "simulator prediction"
    assert second["prior"]["source"] == "clock f1980"
    assert second["prior"]["lower_rps"] == first["lower_rps"]
    for mt in (first, second):
        assert mt["rps"] and mt["lower_rps"] <= mt["rps"]
        if mt["converged"]:
            assert mt["upper_rps"] / mt["lower_rps"] <= 1.0 + 0.35  # search=smoke rel_tol
    assert "search started from clock f1980" in run.stderr
    assert cold.returncode == 0, cold.stderr[-2000:]
    mt = load_summary(tmp_path / "cold/raw/cells/f1700/S-S/summary.json")["max_throughput"]
    assert mt["prior"] is None
