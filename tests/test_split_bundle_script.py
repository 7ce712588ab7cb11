"""tools/device/split-bundle.sh: a vLLM bundle re-split to fit beside the checkout under
the device tool's limit a call (the tree and the last call's model folder counted)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tools/device/split-bundle.sh"
MIB = 1024 * 1024


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "tracked.bin").write_bytes(os.urandom(3 * MIB))  # the tree: 3 MiB
    subprocess.run(["git", "-C", str(repo), "add", "tracked.bin"], check=True)
    model = repo / "results/models/llama-1b"
    model.mkdir(parents=True)
    (model / "config.json").write_bytes(b"x" * MIB)  # carried with the last part
    return repo


def test_parts_fit_beside_the_tree_and_join_to_the_same_bundle(tmp_path):
    repo = _repo(tmp_path)
    src = repo / "bundle"
    payload = os.urandom(13 * MIB)
    for i, chunk in enumerate((payload[:8 * MIB], payload[8 * MIB:])):
        (src / f"part0{i}.d").mkdir(parents=True)
        (src / f"part0{i}.d" / f"part0{i}").write_bytes(chunk)
    (src / "part01.d/install.sh").write_text("#!/bin/sh\necho install\n")
    (repo / ".git/info/exclude").write_text("/bundle/\n/results/\n")  # as in the checkout
    run = subprocess.run(["bash", str(SCRIPT), "bundle", ".vb"], cwd=repo, text=True,
                         capture_output=True, env={**os.environ, "LIMIT_MIB": "10",
                                                   "MARGIN_MIB": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    # 10 MiB a call - 3 (tree) - 1 and a folder entry (model) - 1 (margin): whole MiB
    # parts of 4
    parts = sorted((repo / ".vb").glob("part*.d/part[0-9]*"))
    assert [p.stat().st_size for p in parts] == [4 * MIB] * 3 + [MIB]
    assert b"".join(p.read_bytes() for p in parts) == payload
    assert (repo / ".vb/part03.d/install.sh").exists()
    assert "/.vb/" in (repo / ".git/info/exclude").read_text()
    assert "bash .vb/part03.d/install.sh" in run.stdout


def test_a_tree_too_large_for_any_part_is_one_line(tmp_path):
    repo = _repo(tmp_path)
    (repo / "b/part00.d").mkdir(parents=True)
    (repo / "b/part00.d/part00").write_bytes(b"x" * MIB)
    (repo / "b/part00.d/install.sh").write_text("")
    (repo / ".git/info/exclude").write_text("/b/\n/results/\n")
    run = subprocess.run(["bash", str(SCRIPT), "b"], cwd=repo, text=True, capture_output=True,
                         env={**os.environ, "LIMIT_MIB": "6"})
    assert run.returncode == 2 and "leaves no room for a part" in run.stdout
    assert not (repo / ".vb").exists()
