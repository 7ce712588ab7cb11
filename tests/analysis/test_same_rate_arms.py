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
    parse_runs,
    start_spread,
    start_z,
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


def test_h100_half_windows_read_lower_latencies_over_repeats_of_one_start():
    """The committed A B A run (reports/reference/h100-2026-12-08-half-windows): 10 windows
    of 30 requests against 5 of 60 run before and after them, pooled. Energy per token
    agrees within about one SE at both rates; TTFT p50 at 6 req/s reads 7.9 % lower at 2.5
    SE counted over repeats (the README's table), which start by start is not an effect:
    test_h100_two_starts_of_one_arm_differ_as_much."""
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


def test_start_spread_pools_inside_arms():
    sd, df = start_spread({"a": [1.0, 3.0], "b": [2.0], "c": [5.0, 6.0, 7.0]})
    assert df == 1 + 2  # arms with one run add nothing
    assert sd == pytest.approx(math.sqrt((2.0 + 2.0) / 3))
    assert start_spread({"a": [1.0], "b": [2.0]}) == (pytest.approx(math.nan, nan_ok=True), 0)
    assert start_z([3.0, 5.0], [1.0], 1.0) == pytest.approx(3.0 / math.sqrt(1 / 2 + 1))
    assert math.isnan(start_z([3.0], [1.0], math.nan))


def test_starts_compared_by_their_means_not_their_repeats():
    """Two starts of arm a read 1.0 and 1.2 with tight repeats; one start of b reads 1.1.
    Counted over repeats, b differs from a by many SE; start by start it does not."""
    a1, a2 = (arm_values([_cell([m - 0.001, m, m + 0.001], [0.02] * 3)]) for m in (1.0, 1.2))
    b = arm_values([_cell([1.299, 1.3, 1.301], [0.02] * 3)])
    runs = {"a": [a1, a2], "b": [b]}
    arms = {"a": a1 | {k: a1[k] + a2[k] for k in a1}, "b": b}
    row = next(r for r in compare(arms, runs) if r["arm"] == "b" and r["metric"] == ENERGY)
    assert row["starts"] == 1 and row["start_df"] == 1
    sd = math.sqrt(0.02 / 1)  # (1.0 - 1.1)^2 + (1.2 - 1.1)^2 over df 1
    assert row["start_cv"] == pytest.approx(sd / 1.1)
    assert row["diff_se_start"] == pytest.approx(0.2 / (sd * math.sqrt(1.5)))
    assert row["diff_se"] > 2.0  # the Welch SE sees only the spread inside a start
    no_runs = next(r for r in compare(arms) if r["arm"] == "b" and r["metric"] == ENERGY)
    assert no_runs["start_df"] == 0 and no_runs["diff_se_start"] is not None


def test_h100_two_starts_of_one_arm_differ_as_much(capsys):
    """The two full-window runs of the committed A B A (each its own vLLM start, 5 repeats)
    read TBT p50 5-9 % apart, farther than the half windows from the second of them (3 %);
    the start-by-start comparison's df is 1 and no latency shift there passes t(1)."""
    runs = dict(parse_runs(arg) for arg in (
        f"full={HALF / 'h100_llama-1b_tp1_b64_arm_exact'},{HALF / 'h100_llama-1b_tp1_b64_arm_exact2'}",
        str(HALF / "h100_llama-1b_tp1_b64_arm_half")))
    (one, two), = [runs["full"]]
    for point in ("r6", "r16"):
        key = (point, "TBT p50 (ms)")
        assert statistics.fmean(two[key]) / statistics.fmean(one[key]) - 1 < -0.05
    arms = {name: {k: [v for r in rs for v in r.get(k, [])] for k in rs[0]} for name, rs in runs.items()}
    rows = {(r["point"], r["metric"]): r for r in compare(arms, runs) if r["arm"] == "half"}
    assert all(r["start_df"] == 1 for r in rows.values())
    assert all(abs(r["diff_se_start"]) < 12.7 for r in rows.values())
    assert rows[("r6", "TTFT p50 (ms)")]["diff_se"] < -2.0  # the repeat-only reading
    assert main([f"full={HALF / 'h100_llama-1b_tp1_b64_arm_exact'},"
                 f"{HALF / 'h100_llama-1b_tp1_b64_arm_exact2'}",
                 str(HALF / "h100_llama-1b_tp1_b64_arm_half")]) == 0
    out = capsys.readouterr().out
    assert "diff/SE st" in out and "df = 1; 95 % needs |t| > 12.71" in out


STARTS = ROOT / "reports/reference/h100-2026-12-08b-starts"


def test_h100_six_starts_half_windows_keep_latency_and_add_energy_at_16():
    """The committed A B B A A B run (reports/reference/h100-2026-12-08b-starts): each arm
    in three vLLM starts. Start by start (df 4) half windows move no latency by even one
    start-SE, while starts spread TTFT p50 9-15 %; energy per token reads +4.8 % at 16
    req/s at 2.75 start-SE (its README's table)."""
    arms = {name: [f"{STARTS}/h100_llama-1b_tp1_b64_arm_{a}" for a in runs]
            for name, runs in (("full", ("exact", "exact2", "exact3")),
                               ("half", ("half", "half2", "half3")))}
    runs = dict(parse_runs(f"{name}={','.join(paths)}") for name, paths in arms.items())
    assert [len(r) for r in runs.values()] == [3, 3]
    pooled_arms = {name: parse_arm(f"{name}={','.join(paths)}")[1] for name, paths in arms.items()}
    rows = {(r["point"], r["metric"]): r for r in compare(pooled_arms, runs) if r["arm"] == "half"}
    assert all(r["start_df"] == 4 and r["starts"] == 3 for r in rows.values())
    for point in ("r6", "r16"):
        for metric in ("TTFT p50 (ms)", "TBT p50 (ms)"):
            assert abs(rows[(point, metric)]["diff_se_start"]) < 1.0
    assert 0.09 < rows[("r6", "TTFT p50 (ms)")]["start_cv"] < rows[("r16", "TTFT p50 (ms)")]["start_cv"] < 0.16
    assert rows[("r16", ENERGY)]["vs_first"] == pytest.approx(0.048, abs=0.002)
    assert rows[("r16", ENERGY)]["diff_se_start"] == pytest.approx(2.75, abs=0.02)
    assert rows[("r16", ENERGY)]["start_cv"] < 0.025
