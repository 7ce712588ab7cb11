"""`greenllm measure` end to end on the simulated GPU + engine: cells, resume, kill, errors.

Real components throughout: the simulator server runs as its own process, the SimGpu
state file is shared with it, and the CLI is the one users run.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenllm.analysis.cells import load_summary
from greenllm.calibrate.reference import load_reference
from greenllm.gpu.sim import SimGpu
from simtest_helpers import TINY_SIM_MEASURE, measure_cli

ROOT = Path(__file__).resolve().parents[2]

TINY = TINY_SIM_MEASURE


def measure(tmp_path: Path, *overrides: str, wait: bool = True, **popen):
    return measure_cli(tmp_path, [*TINY, *overrides], wait=wait, **popen)


def test_grid_writes_valid_cells_then_resume_skips_them(tmp_path):
    run = measure(tmp_path, "clocks.mhz=[990,1980]")
    assert run.returncode == 0, run.stderr[-2000:]
    cells = sorted((tmp_path / "raw/cells").rglob("summary.json"))
    assert [p.parent.parent.name for p in cells] == ["f1980", "f990"]
    for path in cells:
        s = load_summary(path)  # the analysis side's schema check
        assert s["status"] == "ok" and s["simulated"] is True
        assert s["clock"]["applied_mhz"] == int(path.parent.parent.name[1:])
        assert s["max_throughput"]["rps"] > 0 and s["load_points"][0]["energy"]["energy_j"] > 0
        assert (path.parent / "requests.r0.parquet").is_file()
        assert (path.parent / "telemetry.r0.parquet").is_file()
    manifest = json.loads((tmp_path / "raw/manifest.json").read_text())
    assert manifest["complete"] and {c["status"] for c in manifest["cells"]} == {"ok"}
    log_size = (tmp_path / "raw/engine.log").stat().st_size

    again = measure(tmp_path, "clocks.mhz=[990,1980]")
    assert again.returncode == 0
    assert "2/2 cells already measured, 0 to go" in again.stderr
    assert (tmp_path / "raw/engine.log").stat().st_size == log_size  # no engine started
    # the clocks are back to default after the run
    gpu = SimGpu.open(tmp_path / "raw/simgpu.state")
    assert gpu.locked_sm_clock_mhz(0) is None


def test_absolute_rates_alone_skip_the_search_at_exact_rates(tmp_path):
    run = measure(tmp_path, "clocks.mhz=[1980]", "load.points=[]", "load.rates_rps=[3]",
                  "load.requests_per_point=12", "load.exact_rate=true")
    assert run.returncode == 0, run.stderr[-2000:]
    paths = sorted((tmp_path / "raw/cells").rglob("summary.json"))
    assert len(paths) == 1, paths
    path = paths[0]
    s = load_summary(path)
    assert s["status"] == "ok" and s["max_throughput"] is None
    assert [p["name"] for p in s["load_points"]] == ["r3"]
    assert s["load_points"][0]["energy"]["energy_j"] > 0
    assert "probe" not in run.stderr
    # load.exact_rate: the schedule spans exactly (n - 1) gaps of 1/rate (the client's send
    # jitter is ms), the run records the setting, and the calibration check replays it so
    frame = pd.read_parquet(path.parent / "requests.r0.parquet")
    sends = np.sort(frame.loc[frame["point"] == "r3", "send_s"].to_numpy(dtype=float))
    assert len(sends) == 12
    assert sends[-1] - sends[0] == pytest.approx(11 / 3.0, rel=0.02)
    config = json.loads((tmp_path / "raw/instance.json").read_text())["config"]
    assert config["load"]["exact_rate"] is True
    assert {c.exact_rate for c in load_reference(tmp_path / "raw")} == {True}
    # the window is saved on the telemetry's clock: the energy is recomputable from disk
    out = tmp_path / "check.json"
    check = subprocess.run([sys.executable, str(ROOT / "benchmarks/energy_crosscheck.py"),
                            str(tmp_path / "raw"), "--json", str(out)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    (point,) = json.loads(out.read_text())["points"]
    assert point["energy_j"] == pytest.approx(s["load_points"][0]["energy"]["energy_j"], rel=1e-9)


def test_sigterm_keeps_finished_cells_and_restores_clocks(tmp_path):
    proc = measure(tmp_path, "clocks.mhz=[990,1200,1500,1980]", wait=False)
    first = tmp_path / "raw/cells/f990/S-S/summary.json"
    deadline = time.monotonic() + 120
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert first.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert load_summary(first)["status"] == "ok"  # finished cell intact
    gpu = SimGpu.open(tmp_path / "raw/simgpu.state")
    assert gpu.locked_sm_clock_mhz(0) is None  # clock restored
    assert not list((tmp_path / "state").rglob("clock-pin-*.json"))  # no stale marker
    statuses = [json.loads(p.read_text())["status"]
                for p in (tmp_path / "raw/cells").rglob("summary.json")]
    assert "failed" not in statuses  # an interrupted cell is not a failed one
    # ... and a rerun completes only what is missing
    rerun = measure(tmp_path, "clocks.mhz=[990,1200,1500,1980]")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{len(statuses)}/4 cells already measured" in rerun.stderr


def _one_line_error(run: subprocess.CompletedProcess, expect: str) -> None:
    assert run.returncode == 2, run.stderr[-2000:]
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("greenllm: error:")]
    assert len(errors) == 1 and expect in errors[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "overrides, expect",
    [
        (["workload.ids=[S-X]"], "S-X"),
        (["clocks.mhz=[3000]"], "3000 MHz"),
        (["instance.tp=3"], "does not divide"),
        (["model.load_format=real"], "has no config.json"),
        (["engine.extra_args=[--max-num-seqs,0]"], "during start"),
    ],
)
def test_bad_input_is_one_line_before_measuring(tmp_path, overrides, expect):
    _one_line_error(measure(tmp_path, *overrides), expect)
    assert not list((tmp_path / "raw").rglob("summary.json"))


def test_port_in_use_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        _one_line_error(measure(tmp_path, f"engine.port={port}"), "already in use")


def test_no_clock_permission_fails_or_falls_back_to_observe(tmp_path):
    denied = ["clocks.mhz=[1980]", "clocks.sim_clock_permitted=false"]
    _one_line_error(measure(tmp_path, *denied), "not permitted")
    run = measure(tmp_path, *denied, "clocks.fallback_to_observe=true")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "WARNING: clock pinning is not permitted" in run.stderr
    paths = sorted((tmp_path / "raw/cells").rglob("summary.json"))
    assert len(paths) == 1, paths
    path = paths[0]
    s = load_summary(path)
    assert path.parent.parent.name == "native" and s["clock"]["mode"] == "observe"
    assert any("not permitted" in w for w in s["provenance"]["warnings"])


def test_a_search_that_finds_nothing_is_not_ok_anywhere(tmp_path):
    """Issue 13: every probe missed the SLO until max_probes; the cell said ok, exit 0,
    and nothing said that nothing was measured. Now the status, the log, the run's last
    line, the tables and the figure all say so."""
    from greenllm.analysis.aggregate import read_cells
    from greenllm.analysis.statistics import ensure_statistics
    from greenllm.analysis.studies import study_for
    from greenllm.figures.plot import NO_MAX_LABEL
    from greenllm.figures.registry import get_figure, render

    # Probes start far above the simulated capacity and halve only once: both miss.
    hopeless = ["search.start_rps=2000", "search.requests_per_probe=200"]
    run = measure(tmp_path, "clocks.mhz=[990]", *hopeless)
    assert run.returncode == 0, run.stderr[-2000:]  # decided: a warning, not an exit code
    s = load_summary(tmp_path / "raw/cells/f990/S-S/summary.json")
    assert s["status"] == "no_max_throughput"
    assert s["max_throughput"]["rps"] is None and s["max_throughput"]["stop_reason"] == "max_probes"
    assert s["max_throughput"]["flags"] == ["no_max_throughput", "unbracketed"]
    assert s["load_points"][0]["flags"] == ["no_max_throughput"]
    assert "f990 S-S: WARNING: no max throughput: none of 2 probes" in run.stderr
    assert "before bracketing the limit" in run.stderr
    assert "load low NOT measured" in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("greenllm: WARNING: 1 of 1 cells are not ok: f990/S-S no max"), last

    # A rerun under the same settings keeps it (retry_failed=false); another clock that
    # works, measured with the default search, sits beside it in the table (its own
    # folder: a rerun under other search settings would measure f990 again,
    # measure.measured_settings).
    again = measure(tmp_path, "clocks.mhz=[990]", *hopeless, "retry_failed=false")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1/1 cells already measured" in again.stderr
    assert "WARNING: 1 of 1 cells are not ok: f990/S-S" in again.stderr.strip().splitlines()[-1]
    works = measure(tmp_path / "works", "clocks.mhz=[1980]")
    assert works.returncode == 0, works.stderr[-2000:]

    table = read_cells([tmp_path / "raw", tmp_path / "works" / "raw"]).table
    by_clock = table.set_index("clock_label")
    assert by_clock.loc["f990", "status"] == "no_max_throughput"
    assert "none of 2 probes" in by_clock.loc["f990", "error"]
    assert by_clock.loc["f1980", "status"] == "ok"
    stats = ensure_statistics(table).set_index("clock_label")
    assert stats.loc["f990", "status"] == "no_max_throughput"

    study = study_for("workload", {"tp": 1, "max_batch": 64, "workloads": ["S-S"],
                                   "load": "low", "clocks": [990, 1980]})
    result = render(get_figure("fig01"), table, study)
    assert not result.placeholder and list(result.data["clock_mhz"]) == [1980]
    assert NO_MAX_LABEL in result.texts()  # the red x in the legend
    marks = [c for c in result.figure.axes[0].collections if c.get_label() == NO_MAX_LABEL]
    assert len(marks) == 1 and marks[0].get_offsets()[0][0] == 990
    assert any("990 MHz (no max throughput: none of 2 probes" in n for n in result.notes)


def test_gpu_h200_runs_on_the_simulated_h200(tmp_path):
    run = measure(tmp_path, "gpu=h200", "clocks.mhz=[1980]", "load.points=[]",
                  "load.rates_rps=[3]")
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    s = load_summary(path)
    assert s["status"] == "ok"
    assert s["provenance"]["gpus"][0]["name"] == "Simulated NVIDIA H200 (greenllm sim)"
    assert SimGpu.open(tmp_path / "raw/simgpu.state").spec.profile == "h200"
    # the energy counter's measured read cost and the period chosen from it
    reads = s["energy_reads"]["r0"]
    assert 0 <= reads["read_s"] < 0.002 and reads["energy_period_s"] == 0.0
    assert "energy counter read:" in run.stderr
