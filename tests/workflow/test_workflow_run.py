"""Run the smoke DAG for real through the sim profile, with stub_greenllm.py standing in
for measure/aggregate/figure/claims (download is real): checks the wiring (arguments,
quoting, markers, cell copies), that a crashed instance keeps its raw cells and does not
stop the others, that a rerun measures only what is missing, and `snakemake --report`."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from smk_run import ROOT, finish, job_stats, start

STUB = Path(__file__).with_name("stub_greenllm.py")
SIM = str(ROOT / "profiles/sim")
SMOKE = ("preset=smoke", "engine=sim")  # the documented live-sim one-liner
FIGS_TP = {"fig06_ttft_vs_clock_tp", "fig07_tbt_vs_clock_tp", "fig08_max_throughput_tp",
           "fig09_max_power_tp", "fig10_energy_tp"}


def calls(path: Path, command: str) -> list[list[str]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [c["args"] for c in map(json.loads, lines) if c["command"] == command]


# ~60 s on 2 cores (four Snakemake runs of ~35 jobs): plain pytest skips it (tests/opt_in_markers.py).
@pytest.mark.slow
def test_smoke_dag_runs_resumes_and_reports(workdir, tmp_path):
    log = tmp_path / "calls.jsonl"
    cmd = f"greenllm_cmd={shlex.quote(sys.executable)} {shlex.quote(str(STUB))}"
    env = {"STUB_CALLS": str(log), "STUB_FAIL_CELL": "f1000/M-M",
           "STUB_CRASH": "llama-1b_tp2_b64"}

    # 1. The TP2 engine "dies" after its first cell; keep-going finishes the rest.
    r = finish(start(workdir, "--workflow-profile", SIM, "--config", cmd, *SMOKE, env=env))
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-3000:]
    measured = calls(log, "measure")
    assert len(measured) == 3  # one engine start per instance, never per cell
    assert any("clocks.mhz=[1000,1980]" in a for a in measured[0])  # quoting survived
    raw = workdir / "results/raw/llama-1b_tp2_b64/cells/f1000/M-M/summary.json"
    assert raw.is_file()  # raw data of a failed job is never deleted
    assert not (workdir / "results/runs/llama-1b_tp2_b64.done").exists()
    figures = workdir / "reports/figures"
    made = {p.stem for p in figures.glob("*.pdf")}
    assert len(made) == 10 and not made & FIGS_TP  # fig01-05, fig11-15 need no TP2
    assert not (workdir / "reports/claims.md").exists()
    # a failed cell is data, not a failed job: copied as is, its log says so
    cell = workdir / "results/cells/llama-1b_tp1_b64/f1000/M-M.json"
    src = workdir / "results/raw/llama-1b_tp1_b64/cells/f1000/M-M/summary.json"
    assert cell.read_bytes() == src.read_bytes()
    assert json.loads(cell.read_text())["status"] == "failed"
    assert "status failed" in (workdir / "logs/cells/llama-1b_tp1_b64/f1000/M-M.log").read_text()

    # 2. Rerun: only the missing instance is measured again; everything completes.
    env["STUB_CRASH"] = ""
    r = finish(start(workdir, "--workflow-profile", SIM, "--config", cmd, *SMOKE, env=env))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert len(calls(log, "measure")) == 4
    assert calls(log, "measure")[-1][0] == "out_dir=results/raw/llama-1b_tp2_b64"
    assert len(list(figures.glob("*.pdf"))) == 15 and len(list(figures.glob("*.png"))) == 15
    assert (workdir / "reports/claims.md").is_file()
    tables = {Path(a[a.index("--out") + 1]).name: a for a in calls(log, "aggregate")}
    assert set(tables) == {"workload.parquet", "tp.parquet", "batch.parquet", "cells.parquet"}
    tp_cells = tables["tp.parquet"][1:tables["tp.parquet"].index("--out")]
    assert sorted(tp_cells) == sorted(
        f"results/cells/llama-1b_tp{t}_b64/{c}/M-M.json" for t in (1, 2) for c in ("f1000", "f1980"))

    # 3. Rerunning failed cells = forcing the measure rule (measure skips ok cells).
    r = finish(start(workdir, "--workflow-profile", SIM, "--config", cmd, *SMOKE, "-n",
                     "--forcerun", "measure", env=env))
    assert r.returncode == 0
    stats = job_stats(r.stdout + r.stderr)
    # cells measured ok are not copied again: only the 3 failed f1000/M-M cells are
    assert stats["measure"] == 3 and stats["cell"] == 3

    # 3b. A new clock: only its cells and what reads them; a smaller target: nothing.
    r = finish(start(workdir, "--workflow-profile", SIM, "-n", "--config", cmd, *SMOKE,
                     "clocks={mhz: [1000, 1500, 1980]}", env=env))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert job_stats(r.stdout + r.stderr) == {
        # 5 new cells (f1500 x 3 workloads on tp1_b64, M-M on tp2_b64 and tp1_b16), and
        # the 3 failed ones (not ok: copied again whenever their instance is measured)
        "measure": 3, "cell": 8, "study_table": 3, "cells_table": 1, "figure": 15,
        "claims": 1, "all": 1}
    r = finish(start(workdir, "--workflow-profile", SIM, "-n", "--config", cmd, *SMOKE, "--",
                     "reports/figures/fig07_tbt_vs_clock_tp.pdf", env=env))
    assert "Nothing to be done" in r.stdout + r.stderr, (r.stdout + r.stderr)[-3000:]

    # 4. The HTML report, with the figures and their captions.
    report = workdir / "report.html"
    r = finish(start(workdir, "--workflow-profile", SIM, "--config", cmd, *SMOKE,
                     "--report", str(report), env=env))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    html = report.read_text(errors="replace")
    assert "fig03_max_throughput_vs_clock_workloads.pdf" in html
    assert "Maximum throughput under the TTFT/TBT SLO" in html
