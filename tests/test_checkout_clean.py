"""A run must not dirty the checkout: nothing git tracks may sit under a path that
.gitignore names as run output (logs/, results/, reports/figures/, ...)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_no_tracked_file_is_ignored_run_output() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    tracked_but_ignored = proc.stdout.split()
    assert not tracked_but_ignored, (
        f"tracked files under ignored paths (git rm --cached them): {tracked_but_ignored[:10]}")
