"""The whole smoke DAG, for real, on the simulated GPU + engine (about 2-3 min on 2 cores).

This is the README's main job: it proves a fresh install regenerates all 15 figures and
the claims table with no GPU. It checks the data behind the figures shows the
simulator's physics, not pixels.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from smk_run import ROOT, finish, start

SIM = str(ROOT / "profiles/sim")
# The live sim engine on the smoke preset: the README's one-liner for the real machinery
# (the profile's default is the paper grid on the virtual engine).
SMOKE = ("--config", "engine=sim", "preset=smoke")


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dag")
    (workdir / "config").symlink_to(ROOT / "config", target_is_directory=True)
    run = finish(start(workdir, "--workflow-profile", SIM, *SMOKE), timeout_s=900)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    (workdir / "snakemake.out").write_text(run.stdout + run.stderr)
    return workdir


def test_output_is_short_and_ends_with_where_things_went(dag):
    out = (dag / "snakemake.out").read_text().splitlines()
    assert len(out) < 300, f"{len(out)} lines"  # progress only: no shell commands, no rule blocks
    assert not any('"clock_labels"' in line for line in out)  # no JSON shell commands
    text = "\n".join(out)
    assert "figures (15 of 15, PDF + PNG): reports/figures/" in text
    assert "claims table: reports/claims.md" in text
    assert "--report reports/report.html" in text


def test_all_figures_and_claims(dag):
    figures = sorted(p.name for p in (dag / "reports/figures").glob("fig*.pdf"))
    assert len(figures) == 15
    assert all((dag / "reports/figures" / f.replace(".pdf", ".png")).stat().st_size > 10_000
               for f in figures)
    claims = (dag / "reports/claims.md").read_text()
    assert "SIMULATED" in claims and "ss_half_clock_throughput" in claims


def test_cells_are_labelled_simulated_and_ok(dag):
    cells = list((dag / "results/cells").rglob("*.json"))
    assert len(cells) == 10  # smoke: 6 workload-study cells + 2 TP + 2 batch
    for path in cells:
        summary = json.loads(path.read_text())
        assert summary["simulated"] is True
        assert summary["status"] == "ok", (path, summary["error"])


def test_data_behind_figures_shows_the_physics(dag):
    table = pd.read_parquet(dag / "results/tables/workload.parquet")
    med = table[(table.load_point == "medium") & (table.status == "ok")]
    by = med.set_index(["workload_id", "clock_mhz"])
    lo, hi = 1000, 1980
    # TTFT vs clock is not asserted here: in the calibrated model a 1.1B prefill is
    # bound by kernel launches, not the clock, so its change is within single-run noise;
    # the prefill's 1/clock physics is checked noise-free in virtual time by tests/sim.
    # power falls with the clock
    for w in ("S-S", "M-M", "L-L"):
        assert by.loc[(w, lo), "power_mean_w"] < by.loc[(w, hi), "power_mean_w"], w
    # energy is measured (counter) and agrees with the instant-power integral within the
    # integral's own sampling noise: 20 ms samples alias the simulator's ms-scale power
    # steps (bursts above 700 W pass the 40 ms limiter), 1-4 % on these ~1.5 s windows,
    # which every cell states (energy_integral_noise); above 2 % the cell is flagged
    # rather than silently trusted
    assert (med["energy_j"] > 0).all()
    assert (med["energy_integral_noise"] > 0).all()
    assert (med["energy_disagreement"].abs() <= 3 * med["energy_integral_noise"] + 0.01).all()
    flagged = med[med["energy_disagreement"].abs() > 0.02]
    assert flagged["flags"].str.contains("energy_disagreement").all()


def test_html_report_has_every_figure(dag):
    run = finish(start(dag, "--workflow-profile", SIM, *SMOKE, "--report", "report.html"), timeout_s=300)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    html = (dag / "report.html").read_text(errors="replace")
    assert all(f"fig{n:02d}_" in html for n in range(1, 16))
