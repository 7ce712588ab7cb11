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
SET2 = "h100-2026-11-25-s2"
FIG06 = f"reports/reference/{SET}/figures/fig06_ttft_vs_clock_tp.pdf"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("reference")
    procs = {
        "all_figures": start(workdir_for(base / "a"), "-n", "-p", "reference_figures"),
        "no_tp_data": start(workdir_for(base / "b"), "-n", FIG06),
    }
    return {name: finish(proc) for name, proc in procs.items()}


def _figure_commands(out: str) -> dict[tuple[str, str], list[str]]:
    """(set, stem) -> argv of each planned `greenllm figure` command."""
    cmds = {}
    for line in out.splitlines():
        if " figure fig" in line and "--study" in line:
            argv = shlex.split(line.split(" > ")[0])
            refset = argv[argv.index("--out") + 1].split("/")[2]
            cmds[refset, argv[argv.index("figure") + 1]] = argv
    return cmds


STEMS = [
    "fig01_ttft_vs_clock_workloads", "fig02_tbt_vs_clock_workloads",
    "fig03_max_throughput_vs_clock_workloads", "fig04_max_power_vs_clock_workloads",
    "fig05_energy_vs_clock_workloads", "fig11_ttft_vs_clock_batch",
    "fig12_tbt_vs_clock_batch", "fig13_max_throughput_batch", "fig14_max_power_batch",
    "fig15_energy_batch",
]
# Per set: (workload-study model, batch-study max batches, batch instances' folders).
SETS = {
    SET: ("llama-1b", [16, 64], ["smoke-dag_llama-1b_tp1_b16", "smoke-dag_llama-1b_tp1_b64"]),
    SET2: ("llama2-13b", [4, 16], ["h100_llama-1b_tp1_b4", "h100_llama-1b_tp1_b16"]),
}


def test_reference_figures_plans_each_sets_study_tables_and_figures(runs):
    r = runs["all_figures"]
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_stats(out) == {"reference_study_table": 4, "reference_table": 2,
                              "reference_figure": 20, "reference_figures": 1}
    cmds = _figure_commands(out)
    assert sorted(cmds) == sorted((refset, stem) for refset in SETS for stem in STEMS)
    for (refset, stem), argv in cmds.items():
        model, batches, _ = SETS[refset]
        study = json.loads(argv[argv.index("--study") + 1])
        table = argv[argv.index("--table") + 1]
        assert argv[argv.index("--out") + 1] == f"reports/reference/{refset}/figures/{stem}.pdf"
        number = int(stem[3:5])
        if number <= 5:  # workload study: one instance at max batch 64
            assert table == f"results/reference/{refset}/workload.parquet"
            assert study["workloads"] == ["S-S", "M-M", "L-L"] and study["max_batch"] == 64
            assert study["model"] == model
        else:  # batch study: the 1.1B shape at two max batch sizes
            assert 11 <= number <= 15
            assert table == f"results/reference/{refset}/batch.parquet"
            assert study["max_batches"] == batches and study["workload"] == "M-M"
            assert study["model"] == "llama-1b"
        assert study["tp"] == 1
    # each study table aggregates exactly its run's cell summaries
    aggregates = [line for line in out.splitlines() if " aggregate --cells " in line]
    for refset, (_, _, folders) in SETS.items():
        batch = next(a for a in aggregates
                     if a.split(" > ")[0].endswith(f"{refset}/batch.parquet"))
        assert all(f"{f}/cells/native/M-M/summary.json" in batch for f in folders)
        assert "h100_llama-1b_tp1_b64" not in batch
    whole = {a.split(" > ")[0].split("/")[-2]: a for a in aggregates
             if a.split(" > ")[0].endswith("cells.parquet")}
    assert len(re.findall(r"summary\.json", whole[SET])) == 10
    assert len(re.findall(r"summary\.json", whole[SET2])) == 5  # b4, b16, 13B x 3


def test_figure_without_reference_data_fails_in_one_line(runs):
    r = runs["no_tp_data"]
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert f"reference set {SET} has no data for the tp study" in out
