"""benchmarks/energy_estimators.py: the two energy-per-token estimators over repeats.

A hand-made cell checks the arithmetic (mean power over nominal rate x tokens per
request; repeats without a window are skipped); the committed H100 campaign (real
telemetry, 6 load points x 5 repeats) shows what docs/campaign.md quotes: the measured
metric's spread is several times the power-based one's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks/energy_estimators.py"
sys.path.insert(0, str(ROOT / "benchmarks"))
from energy_estimators import adjusted, cv, point_rows, pooled_log_slope  # noqa: E402


def _lp(rate: float, thr: float, power: float, e_tok: float | None) -> dict:
    # a 2-s window: its token rate is power / energy per token
    return {"name": "low", "rate_rps": rate, "throughput_rps": thr, "output_tok_s": thr * 100,
            "energy": {"power_mean_w": power, "energy_j": 2 * power, "window_s": 2.0,
                       "energy_per_output_token_j": e_tok}}


def test_power_over_the_nominal_token_rate():
    cell = {"workload": {"id": "M-M"},
            "load_points": [_lp(10, 12, 300, 0.25), _lp(10, 8, 280, 0.35), _lp(10, 9, 290, None)]}
    (row,) = point_rows(cell)
    assert row["repeats"] == 2  # the repeat without an energy per token is not an estimate
    assert row["nominal"] == pytest.approx([300 / 1000, 280 / 1000])
    assert row["measured"] == [0.25, 0.35]
    assert row["thr_over_nominal"] == pytest.approx([1.2, 0.8])
    assert cv([1.0]) != cv([1.0])  # nan below two values


def test_control_variate_recovers_power_elasticity_and_moves_to_nominal_load():
    # Power rising with the realized load as x^0.3 (x = throughput / nominal): energy per
    # token = P0 x^0.3 / (x * tokens/s at nominal), so the slope of ln(e/tok) on ln x is
    # exactly 0.3 - 1, and every repeat moved to x = 1 reads P0 / nominal tokens/s.
    def lp(name: str, x: float, p0: float) -> dict:
        power = p0 * x ** 0.3
        return {"name": name, "rate_rps": 10, "throughput_rps": 10, "output_tok_s": 1000,
                "energy": {"power_mean_w": power, "energy_j": 3 * power, "window_s": 3.0,
                           "energy_per_output_token_j": power / (1000 * x)}}
    cell = {"workload": {"id": "M-M", "output_tokens": 100},
            "load_points": [lp("low", x, 200) for x in (0.8, 1.0, 1.3)]
            + [lp("medium", x, 400) for x in (0.9, 1.1, 1.2)]}
    rows = point_rows(cell)
    slope, se = pooled_log_slope(rows)
    assert slope == pytest.approx(-0.7)
    assert se == pytest.approx(0.0, abs=1e-9)
    low, medium = (adjusted(r, slope) for r in rows)
    assert low == pytest.approx([0.2] * 3) and medium == pytest.approx([0.4] * 3)
    assert cv(low) < 1e-9 < cv(rows[0]["measured"])


def test_h100_campaign_energy_spread_is_mostly_arrival_noise():
    run = subprocess.run([sys.executable, str(SCRIPT), str(
        ROOT / "reports/reference/h100-2026-12-05c/campaign/campaign-results.tgz")],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("median CV over 6 load points"), run.stdout
    measured, nominal, adj = (float(x.split()[-2]) for x in last.split(":")[1].split(","))
    assert measured > 3 * nominal, last
    assert measured > 2 * adj, last


def test_not_a_run_folder_is_one_line(tmp_path):
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert run.stderr.strip().count("\n") == 0 and "summary.json" in run.stderr
