"""Faults injected into a real run on the simulated engine and GPU.

Each fault asserts: clocks restored, finished cells intact (byte for byte), and that a
rerun measures only what is missing (by running it, or, where a run would only repeat
what another test shows, by the resume decision ``greenllm measure`` itself takes).
Faults: engine death, SIGTERM, SIGINT, disk full during a cell and before the engine,
a corrupt summary found on resume (truncated, not an object, binary), a cell failing by
itself, an engine that fails to start, two runs on one output folder (a lock holder in
another process, and two real ``greenllm measure`` processes), a GPU held by another
run, and ``kill -9`` of a run (the process boundary is the point there).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr
from io import StringIO
from pathlib import Path

import pytest
from safety_helpers import TINY, clocks_restored, tree

import greenllm.engine.live as live_engine
import greenllm.measure.run as run_mod
from greenllm.cli.main import main
from greenllm.errors import GreenllmError
from greenllm.gpu.sim import SimGpu
from greenllm.load import workload_from
from greenllm.locks import RESULTS_LOCK, gpu_lock_path
from greenllm.measure.adaptive import policy_from_cfg
from greenllm.measure.compose import compose

HOLDER = """
import sys, time
from greenllm.locks import hold
with hold(sys.argv[1], "test holder"):
    print("held", flush=True)
    time.sleep(120)
"""


def measure_args(base: Path, *extra: str) -> list[str]:
    return ["measure", f"out_dir={base / 'raw'}", f"model.path={base / 'model'}", *TINY, *extra]


def cell_files(out: Path, clock: str) -> dict[str, bytes]:
    """A cell's files; in summary.json everything but ``instance_spend``, which every run
    restamps with its instance's spend (measure/spend.py): the measurement is unchanged."""
    files = tree(out / "cells" / clock)
    for name, data in files.items():
        if name.endswith("summary.json"):
            try:
                record = json.loads(data)
            except ValueError:
                continue
            if isinstance(record, dict):
                record.pop("instance_spend", None)
                files[name] = json.dumps(record, sort_keys=True).encode()
    return files


def summary(out: Path, clock: str) -> dict:
    return json.loads((out / "cells" / clock / "S-S" / "summary.json").read_text())


def todo(base: Path, *extra: str) -> list[str]:
    """The cells a rerun would measure (the run's own resume decision, no engine)."""
    cfg = compose(measure_args(base, *extra)[1:])
    cells = run_mod.plan_cells(cfg, [workload_from(w) for w in cfg.workload.ids], "pin")
    return [c.clock_label for c in cells
            if run_mod.needs_measuring(c, base / "raw", True, policy_from_cfg(cfg.load))]


def errors(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("greenllm: error:")]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A run of three clocks: f990 and f1980 ok, f1500 failed by itself (its search
    raised a GreenllmError): the cell is recorded as failed and the run goes on."""
    base = tmp_path_factory.mktemp("finished")
    real = run_mod.search_max_throughput

    def search(*args, **kwargs):  # (cfg, settings, workload, slo, baseline, check, label, ...)
        label = kwargs.get("label", args[6] if len(args) > 6 else "")
        if str(label).startswith("f1500"):
            raise GreenllmError("injected: this cell's search failed")
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp, redirect_stderr(StringIO()) as err:
        mp.setenv("GREENLLM_STATE_DIR", str(base / "state"))
        mp.setattr(run_mod, "search_max_throughput", search)
        code = main(measure_args(base, "clocks.mhz=[990,1500,1980]"))
    assert code == 0, err.getvalue()[-2000:]
    return base


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    """A private copy of the finished run (its simulated GPU state file included)."""
    shutil.copytree(finished / "raw", tmp_path / "raw")
    shutil.copytree(finished / "model", tmp_path / "model")
    return tmp_path


def holder(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


# --- a cell that fails by itself; corrupt summaries found on resume ---------------------

def test_failed_cell_is_recorded_and_others_kept(finished):
    out = finished / "raw"
    assert summary(out, "f1500")["status"] == "failed"
    assert "injected" in summary(out, "f1500")["error"]
    assert {summary(out, c)["status"] for c in ("f990", "f1980")} == {"ok"}
    assert clocks_restored(out, finished / "state")
    assert todo(finished, "clocks.mhz=[990,1500,1980]") == ["f1500"]


@pytest.mark.parametrize("garbage", [b'{"status": "ok", "repeats_do', b"[1, 2]", b"\xff\xfe\x00"],
                         ids=["truncated", "not-an-object", "binary"])
def test_corrupt_summary_is_measured_again_not_trusted(copy, garbage):
    (copy / "raw/cells/f990/S-S/summary.json").write_bytes(garbage)
    assert todo(copy, "clocks.mhz=[990,1500,1980]") == ["f990", "f1500"]


def test_rerun_measures_only_the_corrupt_and_failed_cells(greenllm, copy):
    out = copy / "raw"
    (out / "cells/f990/S-S/summary.json").write_bytes(b'{"status": "ok", "repeats_do')
    kept = cell_files(out, "f1980")
    result = greenllm(*measure_args(copy, "clocks.mhz=[990,1500,1980]"))
    assert result.code == 0, result.err[-2000:]
    assert "1/3 cells already measured, 2 to go" in result.err
    assert cell_files(out, "f1980") == kept  # finished cell untouched
    assert summary(out, "f990")["status"] == "ok" and summary(out, "f1500")["status"] == "ok"
    aside = list((out / "cells/f990/S-S").glob("summary.corrupt-*.json"))
    assert len(aside) == 1 and aside[0].read_bytes() == b'{"status": "ok", "repeats_do'
    assert clocks_restored(out, copy / "state")


# --- faults before the engine starts ------------------------------------------------------

def test_engine_that_fails_to_start(greenllm, copy):
    out = copy / "raw"
    before = {c: cell_files(out, c) for c in ("f990", "f1980")}
    result = greenllm(*measure_args(copy, "clocks.mhz=[990,1500,1980]",
                                    "engine.extra_args=[--max-num-seqs,0]"))
    assert result.code == 2 and len(errors(result.err)) == 1 and "during start" in result.err
    assert {c: cell_files(out, c) for c in before} == before
    assert clocks_restored(out, copy / "state")
    assert todo(copy, "clocks.mhz=[990,1500,1980]") == ["f1500"]


def test_disk_full_before_the_engine_starts(greenllm, copy, monkeypatch):
    out = copy / "raw"
    before = {c: cell_files(out, c) for c in ("f990", "f1980")}
    real = Path.write_bytes

    def write_bytes(self, data):  # write() of instance.json's temp file finds no space
        if self.name.startswith(".instance.json."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    result = greenllm(*measure_args(copy, "clocks.mhz=[990,1500,1980]"))
    assert result.code == 4 and result.engine_starts == 0
    (line,) = errors(result.err)
    assert "no space left on device" in line and "instance.json" in line
    assert {c: cell_files(out, c) for c in before} == before
    assert not list(out.glob(".instance.json.*"))  # no half-written temp file
    assert clocks_restored(out, copy / "state")


def test_second_run_on_one_output_folder_is_refused(greenllm, copy):
    out = copy / "raw"
    before = tree(out / "cells")
    proc = holder(out / RESULTS_LOCK)
    try:
        result = greenllm(*measure_args(copy, "clocks.mhz=[990,1500,1980]"))
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert result.code == 5 and result.engine_starts == 0
    (line,) = errors(result.err)
    assert f"pid {proc.pid} on host" in line and "output folder" in line
    assert tree(out / "cells") == before and clocks_restored(out, copy / "state")
    check = greenllm(*measure_args(copy, "clocks.mhz=[990,1500,1980]"), "--check")
    assert check.code == 0  # the kernel dropped the killed holder's lock
    assert todo(copy, "clocks.mhz=[990,1500,1980]") == ["f1500"]


def test_second_run_on_one_gpu_is_refused(greenllm, copy):
    out = copy / "raw"
    before = tree(out / "cells")
    gpu = SimGpu.open(out / "simgpu.state")
    uuid = gpu.uuid(0)
    gpu.close()
    lock = gpu_lock_path(uuid)  # GREENLLM_STATE_DIR is the test's (the greenllm fixture)
    assert lock.parent == copy / "state" / "gpu-locks"
    proc = holder(lock)
    try:
        result = greenllm(*measure_args(copy, "clocks.mhz=[990,1500,1980]"))
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert result.code == 5 and result.engine_starts == 0
    (line,) = errors(result.err)
    assert f"GPU 0 ({uuid})" in line and f"pid {proc.pid}" in line
    assert tree(out / "cells") == before and clocks_restored(out, copy / "state")


# --- faults during the run: engine death, SIGTERM, SIGINT, disk full --------------------

def test_faults_mid_run_keep_finished_repeats_and_resume_only_whats_missing(greenllm, tmp_path,
                                                                            monkeypatch):
    """One output folder through four faults; 2 clocks x 2 repeats = 4 passes, interleaved
    (r0 f990, r0 f1980, r1 f990, r1 f1980)."""
    out, state = tmp_path / "raw", tmp_path / "state"
    args = measure_args(tmp_path, "clocks.mhz=[990,1980]", "load.repeats=2")
    servers, calls, fault = [], [], {}
    spy = live_engine.start_engine

    def start(*a, **k):
        servers.append(spy(*a, **k))
        return servers[-1]

    real_points = run_mod.run_load_points

    def points(*a, **k):
        calls.append(a)
        action = fault.get(len(calls))
        if action:
            action()
        return real_points(*a, **k)

    def kill_engine():
        os.killpg(servers[-1].proc.pid, signal.SIGKILL)
        servers[-1].proc.wait(timeout=10)

    monkeypatch.setattr(live_engine, "start_engine", start)
    monkeypatch.setattr(run_mod, "run_load_points", points)

    # 1. the engine dies during pass 3 (r1 of f990): exit 3, repeat 0 of both cells kept,
    #    nothing of the aborted repeat left behind (issue 14: its telemetry file was).
    fault.update({3: kill_engine})
    a = greenllm(*args)
    assert a.code == 3, a.err[-2000:]
    assert "engine failed" in a.err and clocks_restored(out, state)
    for clock in ("f990", "f1980"):
        s = summary(out, clock)
        assert (s["status"], s["repeats_done"]) == ("partial", 1)
    assert not list((out / "cells").rglob("*.r1.parquet"))
    r0 = {c: {k: v for k, v in cell_files(out, c).items() if ".r0." in k}
          for c in ("f990", "f1980")}

    # 2. SIGTERM during the rerun's second pass: it measured only repeat 2 of f990
    #    (not repeat 1 again), and says which signal stopped it and that clocks are back.
    calls.clear()
    fault.clear()
    fault.update({2: lambda: os.kill(os.getpid(), signal.SIGTERM)})
    b = greenllm(*args)
    assert b.code == 128 + signal.SIGTERM, b.err[-2000:]
    assert "stopped by SIGTERM; clocks restored" in b.err
    assert "pass 1/2 f990 S-S repeat 2/2" in b.err and clocks_restored(out, state)
    assert (summary(out, "f990")["status"], summary(out, "f990")["repeats_done"]) == ("ok", 2)
    assert summary(out, "f1980")["repeats_done"] == 1
    assert not list((out / "cells/f1980").rglob("*.r1.parquet"))
    f990 = cell_files(out, "f990")

    # 3. SIGINT (Ctrl-C) during the next rerun's only pass.
    calls.clear()
    fault.clear()
    fault.update({1: lambda: os.kill(os.getpid(), signal.SIGINT)})
    c = greenllm(*args)
    assert c.code == 128 + signal.SIGINT and "stopped by SIGINT" in c.err
    assert "clocks restored" in c.err and clocks_restored(out, state)
    assert summary(out, "f1980")["repeats_done"] == 1

    # 4. the disk fills up while the last pass writes its telemetry: one line naming the
    #    file, exit 4, nothing half-written, the cell still resumable.
    calls.clear()
    fault.clear()
    import pandas as pd

    real_parquet = pd.DataFrame.to_parquet

    def full(frame, path, *a, **k):  # the temp file of telemetry.r1 finds no space
        if Path(path).name.startswith(".telemetry.r1.parquet."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_parquet(frame, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    d = greenllm(*args)
    assert d.code == 4
    (line,) = errors(d.err)
    assert "no space left on device" in line and "telemetry.r1.parquet" in line
    assert clocks_restored(out, state) and summary(out, "f1980")["repeats_done"] == 1
    assert not list((out / "cells/f1980").rglob(".telemetry*"))  # no temp file left
    monkeypatch.setattr(pd.DataFrame, "to_parquet", real_parquet)

    # 5. the final rerun measures only what is missing: one pass, repeat 2 of f1980.
    e = greenllm(*args)
    assert e.code == 0, e.err[-2000:]
    assert "1/2 cells already measured, 1 to go" in e.err and "pass 1/1 f1980" in e.err
    assert cell_files(out, "f990") == f990
    for clock in ("f990", "f1980"):
        now = cell_files(out, clock)
        assert {k: now[k] for k in r0[clock]} == r0[clock]  # repeat 0 never redone
        assert (summary(out, clock)["status"], summary(out, clock)["repeats_done"]) == ("ok", 2)
    assert clocks_restored(out, state)


# --- a real process boundary: kill -9, and two real runs at once ----------------------

def _popen(base: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "GREENLLM_STATE_DIR": str(base / "state")}
    return subprocess.Popen([sys.executable, "-m", "greenllm.cli.main",
                             *measure_args(base, *extra)], env=env, stderr=subprocess.PIPE,
                            text=True)


def test_kill_9_then_rerun_restores_clocks_and_measures_only_whats_missing(greenllm, tmp_path):
    out = tmp_path / "raw"
    proc = _popen(tmp_path, "clocks.mhz=[990,1980]")
    first = out / "cells/f990/S-S/summary.json"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.exists(), proc.stderr.read() if proc.poll() is not None else "timeout"
    proc.kill()  # SIGKILL: no finally runs; the clock may stay pinned, a marker left
    proc.wait(timeout=30)
    kept = cell_files(out, "f990")
    rerun = greenllm(*measure_args(tmp_path, "clocks.mhz=[990,1980]"))
    assert rerun.code == 0, rerun.err[-2000:]  # the dead run's locks were freed
    assert "1/2 cells already measured, 1 to go" in rerun.err
    assert cell_files(out, "f990") == kept
    assert clocks_restored(out, tmp_path / "state")


def test_two_real_runs_on_one_output_folder(tmp_path):
    a, b = _popen(tmp_path, "clocks.mhz=[1980]"), _popen(tmp_path, "clocks.mhz=[1980]")
    try:
        deadline = time.monotonic() + 120
        while a.poll() is None and b.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        loser, winner = (a, b) if a.poll() is not None else (b, a)
        loser_err = loser.stderr.read()
        assert loser.wait(timeout=60) == 5, loser_err
        (line,) = errors(loser_err)
        assert f"in use by another greenllm run: pid {winner.pid} on host" in line
        winner.send_signal(signal.SIGTERM)
        assert winner.wait(timeout=60) == 128 + signal.SIGTERM
        assert "stopped by SIGTERM" in winner.stderr.read()
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    assert clocks_restored(tmp_path / "raw", tmp_path / "state")


def test_spend_stamp_skips_corrupt_summaries(tmp_path):
    """Each run restamps every cell's summary with its spend; a corrupt summary (found on
    resume, not yet measured again) is left as it is, not a traceback at the end."""
    from greenllm.measure.spend import SpendLedger, stamp_summaries

    good, binary, listed = (tmp_path / n for n in ("good.json", "binary.json", "list.json"))
    good.write_text('{"status": "ok"}')
    binary.write_bytes(b"\xff\xfe\x00")
    listed.write_text("[1, 2]")
    stamp_summaries([good, binary, listed, tmp_path / "absent.json"], SpendLedger(gpus=1))
    assert "instance_spend" in json.loads(good.read_text())
    assert binary.read_bytes() == b"\xff\xfe\x00" and listed.read_text() == "[1, 2]"
