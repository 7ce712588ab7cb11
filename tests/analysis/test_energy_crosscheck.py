"""benchmarks/energy_crosscheck.py on the committed H100 reference sets (real telemetry)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks/energy_crosscheck.py"


def crosscheck(tmp_path: Path, *dirs: Path) -> dict:
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, str(SCRIPT), *map(str, dirs), "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(out.read_text())


def test_long_windows_agree_within_one_percent(tmp_path):
    # docs/h100.md, "Third session": 6 load points of ~45 s, all within 1 %
    s = crosscheck(tmp_path, ROOT / "reports/reference/h100-2026-11-25-s3")["summary"]
    assert s["points"] == 6 and s["within_1pct"] == 6 and s["max_abs"] < 0.01


def test_short_windows_disagree_by_the_integrals_own_noise(tmp_path):
    # docs/h100.md: 60 load points of 4-16 s; the disagreement is the integral's noise
    doc = crosscheck(tmp_path, ROOT / "reports/reference/h100-2026-11-25-s2")
    s = doc["summary"]
    assert s["points"] == 60 and doc["skipped"] == 0
    assert 0.5 < s["z_spread"] < 1.3 and s["z_within_2"] >= 57
    assert abs(s["mean"]) < 0.003  # no bias between counter and integral


def test_a_folder_without_cells_is_one_line(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "no cells" in run.stderr
