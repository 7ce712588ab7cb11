"""The lines a run ends with: the figures it made, the claims table, the report command."""

from __future__ import annotations

import shlex
from pathlib import Path

from greenllm import plan as gplan
from greenllm.workflow_summary import report_command, summary_lines

ROOT = Path(__file__).resolve().parents[2]


def test_lists_only_what_exists_and_the_report_command(tmp_path: Path) -> None:
    plan = gplan.plan_from_config({"preset": "smoke", "engine": "sim"}, ROOT, workdir=ROOT)
    fig = tmp_path / plan.figure_file("fig07_tbt_vs_clock_tp")
    fig.parent.mkdir(parents=True)
    fig.write_bytes(b"%PDF")
    argv = ["snakemake", "--workflow-profile", "profiles/sim", "reports/figures/fig07_tbt_vs_clock_tp.pdf",
            "--config", "preset=smoke", "clocks={mode: observe}", "-j", "2"]
    lines = summary_lines(plan, argv, ok=True, workdir=tmp_path)
    text = "\n".join(lines)
    assert lines[0] == "greenllm: done (preset smoke, engine sim, SIMULATED):"
    assert "figures (1 of 15, PDF + PNG): reports/figures/" in text
    assert "    fig07_tbt_vs_clock_tp.pdf" in lines
    assert "fig01" not in text and "claims table" not in text  # not made: not listed
    report = lines[-1].split("HTML report: ", 1)[1]
    # the options that shape the plan are repeated (else the report is of another DAG);
    # the target and scheduling options are not
    assert shlex.split(report) == ["snakemake", "--workflow-profile", "profiles/sim", "--config",
                                   "preset=smoke", "clocks={mode: observe}", "--report",
                                   "reports/report.html"]

    (tmp_path / plan.claims_file()).write_text("x")
    failed = summary_lines(plan, argv, ok=False, workdir=tmp_path)
    assert failed[0].startswith("greenllm: some jobs failed")
    assert "  claims table: reports/claims.md (+ .csv)" in failed


def test_report_command_of_a_plain_run() -> None:
    assert report_command(["snakemake"], "reports/report.html") == \
        "snakemake --report reports/report.html"
    assert report_command(["snakemake", "--config=preset=paper", "-n"], "r.html") == \
        "snakemake --config=preset=paper --report r.html"
