"""Where a result came from: versions, git revision, config and its hash, GPUs, times."""

from __future__ import annotations

import dataclasses
import datetime as dt
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from greenllm import __version__

_REPO = Path(__file__).resolve().parents[3]


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


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def provenance(*, config: dict[str, Any], config_hash: str, overrides: Sequence[str],
               gpu_infos: Sequence[Any], engine_version: str) -> dict[str, Any]:
    return {
        "greenllm_version": __version__,
        "git_rev": git_revision(),
        "config_hash": config_hash,
        "overrides": list(overrides),
        "config": config,
        "host": platform.node(),
        "python": platform.python_version(),
        "gpus": [dataclasses.asdict(i) for i in gpu_infos],
        "engine_version": engine_version,
        "started_at": now_iso(),
    }
