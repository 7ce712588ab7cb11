"""Where a result came from: versions, git revision, source digest, config and its hash,
GPUs, times."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from greenllm import __version__

_REPO = Path(__file__).resolve().parents[3]
_PACKAGE = Path(__file__).resolve().parents[1]  # src/greenllm


def git_revision() -> str | None:
    """The checkout's commit (with ``-dirty`` when it has uncommitted changes), if any."""
    try:
        rev = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def source_digest(package: Path = _PACKAGE) -> str:
    """sha256 (first 16 hex digits) of the package's Python sources, path and content.

    Names the code that measured without trusting git: a copied working tree (a lent GPU
    machine) can carry stale git metadata, so ``git_rev`` has read an older commit plus
    ``-dirty`` (docs/h100.md). ``python -m greenllm.measure.provenance`` prints the digest
    of a checkout, to compare with a result's."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def provenance(*, config: dict[str, Any], config_hash: str, overrides: Sequence[str],
               gpu_infos: Sequence[Any], engine_version: str) -> dict[str, Any]:
    return {
        "greenllm_version": __version__,
        "git_rev": git_revision(),
        "source_digest": source_digest(),
        "config_hash": config_hash,
        "overrides": list(overrides),
        "config": config,
        "host": platform.node(),
        "python": platform.python_version(),
        "gpus": [dataclasses.asdict(i) for i in gpu_infos],
        "engine_version": engine_version,
        "started_at": now_iso(),
    }


if __name__ == "__main__":
    print(source_digest())
