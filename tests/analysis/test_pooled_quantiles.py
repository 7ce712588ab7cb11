"""Pooled quantiles over rounds (greenllm.analysis.pooled_quantiles) and the per-request
latencies both clients' runs carry for them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from greenllm.analysis.compare import (
    greenllm_metrics_from_frame,
    greenllm_request_latencies_ms,
    vllm_request_latencies_ms,
)
from greenllm.analysis.pooled_quantiles import format_pooled_table, pooled_ratio, pooled_table


def _rounds(rng, k, n, scale=1.0, shift_per_round=None):
    """k rounds of n lognormal latencies (ms); an optional per-round drift shared by
    both arms when the same list is passed to each."""
    shifts = shift_per_round if shift_per_round is not None else np.ones(k)
    return [list(scale * s * rng.lognormal(3.0, 0.4, n)) for s in shifts]


def test_identical_clients_interval_covers_one_and_narrows_with_more_requests():
    # Two identical clients under an engine that drifts between rounds (both arms of a
    # round see the same drift): the round-block interval holds 1 in most trials, and
    # four times the requests a round make it about half as wide.
    rng = np.random.default_rng(1)
    drift = rng.uniform(0.8, 1.3, 8)
    covered, widths = 0, {60: [], 240: []}
    for trial in range(20):
        for n in widths:
            a = _rounds(rng, 8, n, shift_per_round=drift)
            b = _rounds(rng, 8, n, shift_per_round=drift)
            ratio, lo, hi = pooled_ratio(a, b, 99.0, n_boot=300, seed=trial)
            assert lo <= ratio <= hi
            widths[n].append(hi - lo)
            covered += n == 240 and lo <= 1.0 <= hi
    assert covered >= 16
    assert np.median(widths[240]) < 0.75 * np.median(widths[60])


def test_a_real_offset_is_found_outside_the_band():
    rng = np.random.default_rng(2)
    a = _rounds(rng, 8, 500)
    b = _rounds(rng, 8, 500, scale=1.25)  # the reference reads 25 % higher
    ratio, lo, hi = pooled_ratio(a, b, 99.0, n_boot=400)
    assert ratio == pytest.approx(1.25, rel=0.1)
    assert lo > 1.05


def test_pooled_ratio_needs_three_rounds_for_an_interval_and_matching_rounds():
    rng = np.random.default_rng(3)
    ratio, lo, hi = pooled_ratio(_rounds(rng, 2, 50), _rounds(rng, 2, 50), 50.0)
    assert math.isfinite(ratio) and math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        pooled_ratio(_rounds(rng, 3, 5), _rounds(rng, 2, 5), 50.0)


def test_pooled_table_pairs_rounds_and_skips_runs_without_requests():
    rng = np.random.default_rng(4)
    runs = []
    for rnd in range(4):
        for arm, scale in (("text", 1.0), ("vllm", 1.0)):
            values = list(scale * rng.lognormal(3.0, 0.2, 100))
            runs.append({"rate": 7.9, "arm": arm, "round": rnd,
                         "requests": {"ttft_ms": values, "tpot_ms": values,
                                      "e2e_ms": values}})
    runs.append({"rate": 7.9, "arm": "text", "round": 9, "metrics": {}})  # no requests: old file
    runs.append({"rate": 60.0, "arm": "text", "round": 0,
                 "requests": {"ttft_ms": [1.0], "tpot_ms": [1.0], "e2e_ms": [1.0]}})  # no ref
    rows = pooled_table(runs, "vllm")
    assert {r["rate"] for r in rows} == {7.9}
    assert [r["metric"] for r in rows] == ["ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms",
                                          "tpot_p99_ms", "e2e_p50_ms", "e2e_p99_ms"]
    row = rows[1]
    assert row["rounds"] == 4 and row["n_arm"] == 400 and row["n_ref"] == 400
    text = np.concatenate([r["requests"]["ttft_ms"] for r in runs[:8:2]])
    assert row["arm_value"] == pytest.approx(np.percentile(text, 99))
    table = format_pooled_table(rows, "vllm")
    assert "| 7.9 | text | ttft_p99_ms | 4 | 400 / 400 |" in table


def test_vllm_per_request_latencies_follow_vllms_definitions():
    # vLLM: e2e = ttft + sum(itls) (its latency is the last token's arrival),
    # tpot = sum(itls) / (output_len - 1); failed requests are left out.
    result = {"ttfts": [0.020, 0.030, 0.0, 0.025], "itls": [[0.002] * 9, [0.004] * 3, [], [0.001]],
              "output_lens": [10, 4, 0, 1], "errors": ["", "", "timeout", ""]}
    got = vllm_request_latencies_ms(result)
    assert got["ttft_ms"] == pytest.approx([20.0, 30.0, 25.0])
    assert got["e2e_ms"] == pytest.approx([38.0, 42.0, 26.0])
    assert got["tpot_ms"][:2] == pytest.approx([2.0, 4.0]) and math.isnan(got["tpot_ms"][2])
    assert vllm_request_latencies_ms({"p99_ttft_ms": 3.0}) == {}  # no --save-detailed


def test_greenllm_per_request_latencies_give_its_own_percentiles():
    rng = np.random.default_rng(5)
    rows = []
    for i in range(50):
        send = i * 0.1
        first = send + rng.uniform(0.01, 0.05)
        times = list(first + np.cumsum(np.r_[0.0, rng.uniform(0.001, 0.004, 15)]))
        rows.append({"ok": i != 7, "send_s": send, "first_token_s": first,
                     "last_token_s": times[-1], "end_s": times[-1] + 0.001,
                     "token_times_s": times, "tokens_out": 16, "scheduled_offset_s": send,
                     "send_wall_s": send, "lateness_s": 0.0, "error": "",
                     "token_count_source": "chunks"})
    frame = pd.DataFrame(rows)
    per = greenllm_request_latencies_ms(frame)
    metrics = greenllm_metrics_from_frame(frame)
    assert len(per["ttft_ms"]) == 49  # the failed request is left out
    for name in ("ttft", "tpot", "e2e"):
        for pct in (50, 99):
            assert np.percentile(per[f"{name}_ms"], pct) == pytest.approx(
                metrics[f"{name}_p{pct}_ms"])
