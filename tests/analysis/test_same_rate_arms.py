"""benchmarks/same_rate_arms.py: one load under several conventions, side by side.

Hand-made cells check the reading and the arithmetic (means, CV, Welch difference over
its SE against the first arm); the committed H100 paired runs (same rates, exact vs
drawn arrivals) give the numbers docs/campaign.md quotes."""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from same_rate_arms import (  # noqa: E402
    arm_name,
    arm_values,
    compare,
    main,
    parse_arm,
    welch_z,
)

H100 = ROOT / "reports/reference/h100-2026-12-07c-exact-default"
ENERGY = "energy per output token (J)"


def _cell(e_tok: list[float], ttft_s: list[float]) -> dict:
    return {"load_points": [
        {"name": "r6", "repeat": r, "energy": {"energy_per_output_token_j": e, "power_mean_w": 200.0},
         "ttft_s": {"p50": t}, "tbt_s": {"p50": None}}
        for r, (e, t) in enumerate(zip(e_tok, ttft_s, strict=True))]}


def test_values_read_by_point_and_metric_missing_ones_skipped():
    vals = arm_values([_cell([0.3, 0.31, 0.29], [0.020, 0.022, 0.021])])
    assert vals[("r6", ENERGY)] == [0.3, 0.31, 0.29]
    assert vals[("r6", "TTFT p50 (ms)")] == pytest.approx([20.0, 22.0, 21.0])
    assert ("r6", "TBT p50 (ms)") not in vals  # no value is not a zero


def test_each_arm_against_the_first():
    a = arm_values([_cell([1.0, 1.1, 0.9, 1.0], [0.02] * 4)])
    b = arm_values([_cell([1.2, 1.3, 1.1, 1.2], [0.02] * 4)])
    rows = {(r["arm"], r["metric"]): r for r in compare({"exact": a, "short": b})}
    first, other = rows[("exact", ENERGY)], rows[("short", ENERGY)]
    assert first["vs_first"] is None and first["diff_se"] is None
    assert other["vs_first"] == pytest.approx(0.2)
    se = math.sqrt(2 * statistics.variance([1.0, 1.1, 0.9, 1.0]) / 4)
    assert other["diff_se"] == pytest.approx(0.2 / se)
    assert other["cv"] == pytest.approx(statistics.stdev([1.2, 1.3, 1.1, 1.2]) / 1.2)
    assert math.isnan(welch_z([1.0], [1.0, 2.0]))


def test_arm_named_by_its_folder():
    assert arm_name("results/raw/h200_llama-1b_tp1_b64_arm_short") == "short"
    assert arm_name("x/h100_llama-1b_tp1_b64_paired_exact.tgz") == "h100_llama-1b_tp1_b64_paired_exact"


def test_h100_paired_runs_energy_spread_falls_mean_stays(capsys):
    exact, drawn = (arm_values_of(H100 / f"h100_llama-1b_tp1_b64_paired_{arm}")
                    for arm in ("exact", "drawn"))
    rows = {(r["point"], r["arm"]): r for r in compare({"exact": exact, "drawn": drawn})
            if r["metric"] == ENERGY}
    assert rows[("r6", "exact")]["cv"] == pytest.approx(0.030, abs=0.001)
    assert rows[("r6", "drawn")]["cv"] == pytest.approx(0.126, abs=0.001)
    for point in ("r6", "r16"):
        assert abs(rows[(point, "drawn")]["diff_se"]) < 0.5  # the mean does not move
    assert main([str(H100 / "h100_llama-1b_tp1_b64_paired_exact"),
                 str(H100 / "h100_llama-1b_tp1_b64_paired_drawn")]) == 0
    assert "diff/SE" in capsys.readouterr().out


def test_h100_quarter_windows_read_a_different_operating_point():
    """The committed short-window run (reports/reference/h100-2026-12-07d-short-windows):
    20 windows of 15 requests against 5 of 60 at the same rates. At 16 req/s energy per
    token reads clearly higher (docs/campaign.md quotes +18.0 %, 2.9 SE); at 6 req/s
    the two agree within their noise."""
    short_run = ROOT / "reports/reference/h100-2026-12-07d-short-windows"
    exact, short = (arm_values_of(short_run / f"h100_llama-1b_tp1_b64_arm_{arm}")
                    for arm in ("exact", "short"))
    assert len(exact[("r16", ENERGY)]) == 5 and len(short[("r16", ENERGY)]) == 20
    rows = {(r["point"], r["metric"]): r for r in compare({"exact": exact, "short": short})
            if r["arm"] == "short"}
    assert rows[("r16", ENERGY)]["vs_first"] == pytest.approx(0.180, abs=0.002)
    assert rows[("r16", ENERGY)]["diff_se"] > 2.5
    assert abs(rows[("r6", ENERGY)]["diff_se"]) < 1.5
    assert rows[("r16", "TTFT p50 (ms)")]["vs_first"] == pytest.approx(0.122, abs=0.002)


def arm_values_of(raw: Path) -> dict:
    return arm_values([json.loads(p.read_text()) for p in sorted(raw.rglob("cells/*/*/summary.json"))])


HALF = ROOT / "reports/reference/h100-2026-12-08-half-windows"


def test_named_arms_pool_the_repeats_of_several_runs():
    one = HALF / "h100_llama-1b_tp1_b64_arm_exact"
    two = HALF / "h100_llama-1b_tp1_b64_arm_exact2"
    name, pooled = parse_arm(f"full={one},{two}")
    assert name == "full"
    assert pooled[("r6", ENERGY)] == arm_values_of(one)[("r6", ENERGY)] + \
        arm_values_of(two)[("r6", ENERGY)]
    assert parse_arm(str(one))[0] == "exact"  # a bare folder is named by its arm_ part
    with pytest.raises(SystemExit, match="NAME=RAW"):
        parse_arm("full=")


def test_h100_half_windows_keep_energy_and_read_lower_latencies():
    """The committed A B A run (reports/reference/h100-2026-12-08-half-windows): 10 windows
    of 30 requests against 5 of 60 run before and after them, pooled. Energy per token
    agrees within about one SE at both rates; TTFT p50 at 6 req/s reads 7.9 % lower at 2.5
    SE (the README's table)."""
    _, full = parse_arm(f"full={HALF / 'h100_llama-1b_tp1_b64_arm_exact'},"
                        f"{HALF / 'h100_llama-1b_tp1_b64_arm_exact2'}")
    _, half = parse_arm(str(HALF / "h100_llama-1b_tp1_b64_arm_half"))
    assert len(full[("r16", ENERGY)]) == 10 and len(half[("r16", ENERGY)]) == 10
    rows = {(r["point"], r["metric"]): r for r in compare({"full": full, "half": half})
            if r["arm"] == "half"}
    for point, shift in (("r6", 0.008), ("r16", 0.044)):
        assert rows[(point, ENERGY)]["vs_first"] == pytest.approx(shift, abs=0.002)
        assert abs(rows[(point, ENERGY)]["diff_se"]) < 1.2
    assert rows[("r6", "TTFT p50 (ms)")]["vs_first"] == pytest.approx(-0.079, abs=0.002)
    assert rows[("r6", "TTFT p50 (ms)")]["diff_se"] < -2.0
