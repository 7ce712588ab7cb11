"""The Snakemake DAG, through dry runs of the real CLI (few invocations, run in parallel)."""

from __future__ import annotations

import re

import pytest
from smk_run import ROOT, finish, job_stats, start, workdir_for

FIG03 = "reports/figures/fig03_max_throughput_vs_clock_workloads.pdf"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """All dry runs of this module, started together (snakemake start-up is ~3 s each)."""
    base = tmp_path_factory.mktemp("dag")
    procs = {
        "paper_all": start(workdir_for(base / "a"), "-n", "--quiet", "rules"),
        "paper_fig03": start(workdir_for(base / "b"), FIG03, "-n"),
        # --quiet host: replaces the profile's quiet list, so -p shows each job again
        "sim_all": start(workdir_for(base / "c"), "-n", "-p", "--quiet", "host",
                         "--workflow-profile", str(ROOT / "profiles/sim"),
                         "--config", "engine=sim", "preset=smoke"),
        "virtual_all": start(workdir_for(base / "g"), "-n", "-p", "--quiet", "host",
                             "--workflow-profile", str(ROOT / "profiles/sim")),
        "bad_config": start(workdir_for(base / "d"), "-n", "--config", "clocks={mode: pinned}"),
        "lint": start(workdir_for(base / "e"), "--lint"),
        "conda_cmd": start(workdir_for(base / "f"), "-n", "-p", "--quiet", "host", "--sdm",
                           "conda", "--workflow-profile", str(ROOT / "profiles/sim")),
    }
    return {name: finish(proc) for name, proc in procs.items()}


def test_paper_all_targets(runs):
    r = runs["paper_all"]
    assert r.returncode == 0, r.stderr[-3000:]
    assert job_stats(r.stdout + r.stderr) == {
        "download": 1, "measure": 7, "cell": 105, "study_table": 3, "cells_table": 1,
        "figure": 15, "claims": 1, "all": 1,
    }


def test_one_figure_runs_only_its_studys_instance(runs):
    r = runs["paper_fig03"]
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_stats(out) == {"download": 1, "measure": 1, "cell": 63, "study_table": 1,
                              "figure": 1}
    measured = re.findall(r"output: results/runs/(\S+)\.done", out)
    assert measured == ["llama2-70b_tp8_b64"]
    # The job asks for its TP in GPUs, uncapped: profiles/default is loaded for every
    # run (Slurm too, whose job step passes `gpus` to srun), so it must not cap them.
    assert re.search(r"resources: .*\bgpus=8, gpu=8, runtime=\d+", out)
    assert "output: results/tables/workload.parquet" in out


def test_sim_profile_runs_the_smoke_preset_simulated(runs):
    r = runs["sim_all"]
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_stats(out) == {
        "download": 1, "measure": 3, "cell": 10, "study_table": 3, "cells_table": 1,
        "figure": 15, "claims": 1, "all": 1,
    }
    measure_cmds = [line for line in out.splitlines() if " measure out_dir=" in line]
    assert len(measure_cmds) == 3
    assert all(" engine=sim " in cmd and " model=llama-1b " in cmd for cmd in measure_cmds)
    assert any("'clocks.mhz=[1000,1980]'" in cmd for cmd in measure_cmds)  # shell-quoted


def test_sim_profile_defaults_to_the_paper_grid_on_the_virtual_engine(runs):
    r = runs["virtual_all"]
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_stats(out) == {
        "download": 1, "measure": 7, "cell": 105, "study_table": 3, "cells_table": 1,
        "figure": 15, "claims": 1, "all": 1,
    }
    measure_cmds = [line for line in out.splitlines() if " measure out_dir=" in line]
    assert len(measure_cmds) == 7
    # load=paper: 5 repeats per load point (config/measure/load/paper.yaml)
    assert all(" engine=virtual " in cmd and " model=llama2-70b " in cmd and " load=paper "
               in cmd for cmd in measure_cmds)
    assert all("'clocks.mhz=[800,1000,1200,1400,1600,1800,1980]'" in cmd
               for cmd in measure_cmds)
    assert {int(t) for cmd in measure_cmds for t in re.findall(r"instance\.tp=(\d+)", cmd)} == {
        2, 4, 8}


def test_bad_config_fails_with_one_line_naming_the_key(runs):
    r = runs["bad_config"]
    assert r.returncode != 0
    err = r.stdout + r.stderr  # Snakemake logs errors to stdout
    lines = [line for line in err.splitlines() if "config key" in line]
    assert lines == ["config key 'clocks.mode': 'pinned' is not one of ['pin', 'observe']"]
    assert "Traceback" not in err and "Failed validating" not in err


def test_lint_is_clean(runs):
    """`snakemake --lint` finds nothing: every shell rule names its conda env
    (workflow/envs/), the catalog's conventions hold."""
    r = runs["lint"]
    out = r.stdout + r.stderr
    items = [line.strip() for line in out.splitlines() if line.startswith("    * ")]
    assert not items, out[-3000:]
    assert "Congratulations, your workflow is in a good condition!" in out, out[-3000:]


def test_rules_use_the_conda_env_python_under_sdm_conda(runs):
    """Under --sdm conda the rules call the env's python, not the venv's."""
    r = runs["conda_cmd"]
    out = r.stdout + r.stderr
    cmds = [line for line in out.splitlines() if " measure out_dir=" in line]
    if r.returncode != 0 and "conda" in out.lower() and not cmds:
        pytest.skip("conda is not installed here: Snakemake refuses --sdm conda")
    assert cmds and all(c.startswith("python -m greenllm.cli.main measure") for c in cmds), out[-3000:]
