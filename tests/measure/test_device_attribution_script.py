"""tools/device/attribution.sh run end to end on the simulated engine (ENGINE=sim):
the command the lead runs on the H200, with short windows. Slow (about a minute)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_attribution_script_on_the_simulator(tmp_path):
    work = tmp_path / "tree"  # the script writes results/ under the working directory
    work.mkdir()
    (work / "src").symlink_to(ROOT / "src")
    out = tmp_path / "out"
    env = {**os.environ, "ENGINE": "sim", "PY": sys.executable, "WINDOW_S": "3", "IDLE_S": "1",
           "RATES": "[4]", "GREENLLM_STATE_DIR": str(tmp_path / "state")}
    run = subprocess.run(["bash", str(ROOT / "tools/device/attribution.sh"), str(out)],
                         cwd=work, env=env, capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    log = (out / "attribution.log").read_text()
    assert "measure exit: 0" in log
    summary = (out / "attribution-summary.txt").read_text()
    assert "idle power at native" in summary and "energy_decode_j" in summary
    with tarfile.open(out / "attribution-results.tgz") as tar:
        names = tar.getnames()
    assert any(n.endswith("energy_breakdown_r4.png") for n in names)
    assert any(n.endswith("idle_power/native.json") for n in names)
