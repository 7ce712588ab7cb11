"""Wall time of README command 1: the paper's grid on the virtual engine, from scratch.

    .venv/bin/python benchmarks/paper_virtual_run.py [--keep DIR] [-- extra snakemake args]

Runs ``snakemake --workflow-profile profiles/sim`` (preset paper, engine virtual) in a
fresh working directory (its config/ links to this checkout's, so nothing lands in the
checkout), then prints the wall time, the job count, how many figures and claims rows
came out and the rows of the claims table that are not evaluated. The install is not
timed. Target: <= 300 s on the project's 2-core machine (README). It also prints the
CPU time of every process of the run: on a shared machine the wall time measures the
neighbours too.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keep", type=Path, help="run in this directory (kept) instead of a temp one")
    p.add_argument("extra", nargs="*", help="more snakemake arguments")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="greenllm-paper-virtual-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "config").exists():
            (work / "config").symlink_to(ROOT / "config", target_is_directory=True)
        cmd = [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
               "--workflow-profile", str(ROOT / "profiles/sim"), *args.extra]
        t0 = time.monotonic()
        run = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = usage.ru_utime + usage.ru_stime
        log = run.stdout + run.stderr
        figures = sorted((work / "reports/figures").glob("fig*.pdf"))
        claims = work / "reports/claims.md"
        text = claims.read_text() if claims.is_file() else ""
        not_evaluated = [line for line in text.splitlines()
                         if "not measurable" in line or "missing cells" in line]
        done = [line for line in log.splitlines() if "steps (100%) done" in line]
        load = os.getloadavg()[0]
        print(f"paper grid, engine=virtual: {wall:.0f} s wall, {cpu:.0f} s CPU of all its "
              f"processes on {os.cpu_count()} cores (load average at the end {load:.1f}: "
              f"on a busy machine the CPU time is the comparable number); exit "
              f"{run.returncode}; {done[-1].strip() if done else 'DAG not finished'}")
        print(f"figures: {len(figures)}; claims table: {'yes' if text else 'missing'}; "
              f"claims not evaluated: {len(not_evaluated)}")
        for line in not_evaluated:
            print(f"  {line}")
        if run.returncode:
            print(log[-3000:], file=sys.stderr)
        return run.returncode


if __name__ == "__main__":
    sys.exit(main())
