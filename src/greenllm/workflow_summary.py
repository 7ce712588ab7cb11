"""The lines a Snakemake run ends with (the Snakefile's ``onsuccess``/``onerror``):
where the figures and the claims table went, and how to get the HTML report.

Only files that exist are listed, so a one-figure target or a run with failed jobs says
exactly what it produced.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from greenllm.plan import Plan

# Options that change what the workflow plans: the report command must repeat them, or
# `snakemake --report` would describe another DAG (e.g. the paper preset, not smoke).
_ONE_VALUE = ("--workflow-profile", "--profile", "--directory", "-d", "--snakefile", "-s")
_MANY_VALUES = ("--configfile", "--configfiles", "--config", "-C")  # as argparse reads them


def report_command(argv: Sequence[str], report: str) -> str:
    """``snakemake <the options of argv that shape the plan> --report <report>``."""
    keep: list[str] = []
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if name in _ONE_VALUE or name in _MANY_VALUES:
            keep.append(arg)
            i += 1
            if "=" not in arg:
                end = i + 1 if name in _ONE_VALUE else len(args)
                while i < min(end, len(args)) and not args[i].startswith("-"):
                    keep.append(args[i])
                    i += 1
            continue
        i += 1
    return shlex.join(["snakemake", *keep, "--report", report])


def summary_lines(plan: Plan, argv: Sequence[str], *, ok: bool, workdir: str | os.PathLike[str] = ".") -> list[str]:
    """What a user needs after a run: figures made, the claims table, the report command."""
    root = Path(workdir)
    figures = [plan.figure_file(stem) for stem in plan.figures]
    made = [f for f in figures if (root / f).is_file()]
    claims = plan.claims_file()
    simulated = plan.config.get("engine") != "vllm"
    head = "greenllm: done" if ok else "greenllm: some jobs failed (logs above and under " \
        f"{plan.logs_dir}/); what was produced"
    lines = [f"{head} (preset {plan.config.get('preset')}, engine {plan.config.get('engine')}"
             f"{', SIMULATED' if simulated else ''}):"]
    if made:
        lines.append(f"  figures ({len(made)} of {len(figures)}, PDF + PNG): "
                     f"{Path(made[0]).parent}/")
        lines += [f"    {Path(f).name}" for f in made]
    else:
        lines.append("  figures: none yet")
    if (root / claims).is_file():
        lines.append(f"  claims table: {claims} (+ .csv)")
    lines.append(f"  measurements: {plan.results_dir}/raw/, tables {plan.results_dir}/tables/")
    if made:
        lines.append(f"  HTML report: {report_command(argv, f'{plan.reports_dir}/report.html')}")
    return lines
