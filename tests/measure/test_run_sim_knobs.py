"""`greenllm measure` sweeping the power limit and the memory clock on the simulated GPU +
engine: the cells, what they record, restoration, and bad input before any GPU time."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from greenllm.analysis.aggregate import read_cells
from greenllm.analysis.cells import load_summary
from greenllm.gpu.sim import SimGpu, SimGpuSpec
from simtest_helpers import TINY_SIM_MEASURE, measure_cli

TINY = TINY_SIM_MEASURE


def measure(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    return measure_cli(tmp_path, [*TINY, *overrides])


def one_line_error(run: subprocess.CompletedProcess, expect: str) -> None:
    assert run.returncode == 2, run.stderr[-2000:]
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("greenllm: error:")]
    assert len(errors) == 1 and expect in errors[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr


def test_power_limit_and_memory_clock_sweep_next_to_the_sm_clock(tmp_path):
    run = measure(tmp_path, "clocks.mhz=[1980]", "clocks.power_limit_w=[300]",
                  "clocks.memory_mhz=[1593]", "attribution.idle_window_s=0.5",
                  "load.min_duration_s=1.0")
    assert run.returncode == 0, run.stderr[-2000:]
    cells = {p.parent.parent.name: load_summary(p)
             for p in (tmp_path / "raw/cells").rglob("summary.json")}
    assert sorted(cells) == ["f1980", "m1593", "p300"]
    f, p, m = cells["f1980"]["clock"], cells["p300"]["clock"], cells["m1593"]["clock"]
    assert f["axis"] == "sm_clock" and f["power_limit_w"] is None and f["applied_mhz"] == 1980
    assert p["axis"] == "power_limit" and p["requested_power_limit_w"] == 300
    assert p["power_limit_w"] == 300 and p["applied_mhz"] is None  # SM clock left to the driver
    assert m["axis"] == "memory_clock" and m["memory_clock_mhz"] == 1593
    assert all(c["status"] == "ok" for c in cells.values())
    # energy attribution: an idle window per setting, once; the split per load point
    idle = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "raw/idle_power").glob("*.json")}
    assert sorted(idle) == ["f1980", "m1593", "p300"]
    assert idle["f1980"]["power_w"] == pytest.approx(SimGpuSpec().power_w(1980, 0, 0), rel=0.01)
    table = read_cells([tmp_path / "raw"]).table
    assert (table["energy_split_method"] == "request-timeline").all()
    for r in table.itertuples():
        # the parts sum to the whole: the power integral they split (before scaling to the
        # counter) agrees with the counter within the window's cross-check error, i.e. the
        # 2 % flag, or twice the integral's own sampling noise where that is larger
        assert r.energy_split_sum_j == pytest.approx(r.energy_j, rel=1e-9)
        tol = max(2 * r.energy_integral_noise, 0.02)
        flagged = "energy_disagreement" in r.flags
        assert flagged or abs(r.energy_split_integral_j / r.energy_j - 1) <= tol, r
        assert abs(r.energy_split_scale - 1) == pytest.approx(
            abs(r.energy_j / r.energy_integral_j - 1), abs=0.005)  # the same cross-check
        assert r.energy_idle_j == pytest.approx(
            r.idle_power_w * (r.idle_s + r.prefill_s + r.decode_s), rel=0.2)
        assert r.energy_prefill_j > 0 and r.energy_decode_j > 0
        assert r.host_energy_status in ("ok", "not available") and r.host_energy_scope
    gpu = SimGpu.open(tmp_path / "raw/simgpu.state")  # everything restored after the run
    assert (gpu.power_limit_w(0), gpu.memory_clock_mhz(0), gpu.locked_sm_clock_mhz(0)) == (700.0, 2619, None)
    assert not list((tmp_path / "state").rglob("clock-pin-*.json"))


@pytest.mark.parametrize("overrides, expect", [
    (["clocks.power_limit_w=[900]"], "power limit 900 W is outside GPU 0's range 200-700 W"),
    (["clocks.memory_mhz=[2000]"], "memory clock 2000 MHz is not one GPU 0 lists (1593, 2619 MHz"),
    (["clocks.power_limit_w=[-5]"], "clocks.power_limit_w has -5"),
])
def test_bad_knob_values_are_one_line_before_measuring(tmp_path, overrides, expect):
    one_line_error(measure(tmp_path, "clocks.mhz=[]", *overrides), expect)
    assert not (tmp_path / "raw/engine.log").exists()  # no engine started


@pytest.mark.slow
def test_power_limit_sweep_without_permission_fails_or_falls_back_like_sm_clocks(tmp_path):
    denied = ["clocks.mhz=[]", "clocks.power_limit_w=[400]", "clocks.sim_clock_permitted=false"]
    one_line_error(measure(tmp_path, *denied), "not permitted")
    run = measure(tmp_path, *denied, "clocks.fallback_to_observe=true")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "WARNING: clock pinning is not permitted" in run.stderr
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    s = load_summary(path)
    assert path.parent.parent.name == "native" and s["clock"]["mode"] == "observe"
    assert s["clock"]["power_limit_w"] == 700.0  # observe records the limit found
