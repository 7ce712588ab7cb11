"""Run the real Snakemake CLI of the venv on this repository's Snakefile.

Each run uses a temporary working directory (its config/ is a link to the repository's)
so that .snakemake/ metadata, results/ and logs/ never land in the checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from simtest_helpers import finish  # noqa: F401 (the workflow tests' finish)

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def workdir_for(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    link = tmp / "config"
    if not link.exists():
        link.symlink_to(ROOT / "config", target_is_directory=True)
    return tmp


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory",
            str(workdir), *args]


def start(workdir: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Start snakemake without waiting (runs overlap: each costs ~3 s of start-up)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen(snakemake_cmd(workdir, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env)


def job_stats(output: str) -> dict[str, int]:
    """The 'Job stats' table of a (dry) run: rule name -> job count."""
    match = re.search(r"Job stats:\njob\s+count\n[- ]+\n(.*?)\ntotal\s+(\d+)", output, re.DOTALL)
    assert match, f"no job stats in output:\n{output[-3000:]}"
    stats = {}
    for line in match.group(1).splitlines():
        name, count = line.split()
        stats[name] = int(count)
    assert sum(stats.values()) == int(match.group(2))
    return stats
