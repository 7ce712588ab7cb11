"""The reference-figures target (workflow/rules/reference.smk): dry runs of the real CLI.

Rendering itself is `greenllm aggregate` + `greenllm figure`, tested with the analysis
code; here: which jobs the target plans, with which tables and studies, that it stays
out of the default target, and that a figure the reference has no data for fails in one
readable line.
"""

from __future__ import annotations

import json
import re
import shlex

import pytest
from smk_run import finish, job_stats, start, workdir_for

SET = "h100-2026-11-25"
FIG06 = f"reports/reference/{SET}/figures/fig06_ttft_vs_clock_tp.pdf"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("reference")
    procs = {
        "all_figures": start(workdir_for(base / "a"), "-n", "-p", "reference_figures"),
        "no_tp_data": start(workdir_for(base / "b"), "-n", FIG06),
    }
    return {name: finish(proc) for name, proc in procs.items()}


def _figure_commands(out: str) -> dict[str, list[str]]:
    """stem -> argv of each planned `greenllm figure` command."""
    cmds = {}
    for line in out.splitlines():
        if " figure fig" in line and "--study" in line:
            argv = shlex.split(line.split(" > ")[0])
            cmds[argv[argv.index("figure") + 1]] = argv
    return cmds


def test_reference_figures_plans_two_study_tables_and_ten_figures(runs):
    r = runs["all_figures"]
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_stats(out) == {"reference_study_table": 2, "reference_table": 1,
                              "reference_figure": 10, "reference_figures": 1}
    cmds = _figure_commands(out)
    assert sorted(cmds) == [
        "fig01_ttft_vs_clock_workloads", "fig02_tbt_vs_clock_workloads",
        "fig03_max_throughput_vs_clock_workloads", "fig04_max_power_vs_clock_workloads",
        "fig05_energy_vs_clock_workloads", "fig11_ttft_vs_clock_batch",
        "fig12_tbt_vs_clock_batch", "fig13_max_throughput_batch", "fig14_max_power_batch",
        "fig15_energy_batch",
    ]
    for stem, argv in cmds.items():
        study = json.loads(argv[argv.index("--study") + 1])
        table = argv[argv.index("--table") + 1]
        assert argv[argv.index("--out") + 1] == f"reports/reference/{SET}/figures/{stem}.pdf"
        number = int(stem[3:5])
        if number <= 5:  # workload study: the part-1 run of the 1.1B shape at max batch 64
            assert table == f"results/reference/{SET}/workload.parquet"
            assert study["workloads"] == ["S-S", "M-M", "L-L"] and study["max_batch"] == 64
        else:  # batch study: both instances of the smoke DAG
            assert 11 <= number <= 15
            assert table == f"results/reference/{SET}/batch.parquet"
            assert study["max_batches"] == [16, 64] and study["workload"] == "M-M"
        assert study["model"] == "llama-1b" and study["tp"] == 1
    # each study table aggregates exactly its run's cell summaries
    aggregates = [line for line in out.splitlines() if " aggregate --cells " in line]
    batch = next(a for a in aggregates if a.split(" > ")[0].endswith("batch.parquet"))
    assert "smoke-dag_llama-1b_tp1_b16/cells/native/M-M/summary.json" in batch
    assert "h100_llama-1b_tp1_b64" not in batch
    whole = next(a for a in aggregates if a.split(" > ")[0].endswith("cells.parquet"))
    assert len(re.findall(r"summary\.json", whole)) == 10


def test_figure_without_reference_data_fails_in_one_line(runs):
    r = runs["no_tp_data"]
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert f"reference set {SET} has no data for the tp study" in out
