"""The latency-gap analysis: server histogram means from two scrapes, and the arm table."""

import math

import pytest

from greenllm.analysis.latency_gap import (
    arm_table,
    format_table,
    histogram_means_ms,
    interval_verdict,
    with_server_view,
)

BEFORE = """# HELP vllm:time_to_first_token_seconds x
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 1.5
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 100
vllm:inter_token_latency_seconds_sum{engine="0",model_name="m"} 2.0
vllm:inter_token_latency_seconds_count{engine="0",model_name="m"} 1000
"""
AFTER = """vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 3.5
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 200
vllm:inter_token_latency_seconds_sum{engine="0",model_name="m"} 2.0
vllm:inter_token_latency_seconds_count{engine="0",model_name="m"} 1000
"""


def test_histogram_means_cover_only_the_requests_between_the_scrapes():
    means = histogram_means_ms(BEFORE, AFTER)
    assert means["server_time_to_first_token_mean_ms"] == pytest.approx(20.0)  # 2 s / 100
    assert "server_inter_token_latency_mean_ms" not in means  # nothing new: no mean


def test_outside_engine_ttft_is_client_minus_server():
    out = with_server_view({"ttft_mean_ms": 27.0}, histogram_means_ms(BEFORE, AFTER))
    assert out["server_ttft_mean_ms"] == pytest.approx(20.0)
    assert out["outside_engine_ttft_mean_ms"] == pytest.approx(7.0)


def _runs(arm, values):
    return [{"rate": 8.0, "arm": arm, "metrics": {"ttft_p50_ms": v}} for v in values]


def test_arm_table_ratio_and_verdict():
    runs = _runs("ids", [20, 21, 22, 21, 20]) + _runs("text", [26, 27, 28, 27, 26]) + \
        _runs("vllm", [27, 27.5, 28, 27, 26.5])
    rows = {(r["arm"], r["metric"]): r for r in arm_table(runs, "vllm", ["ttft_p50_ms"])}
    ids, text = rows[("ids", "ttft_p50_ms")], rows[("text", "ttft_p50_ms")]
    assert ids["ref_over_arm"] == pytest.approx(27 / 21) and not ids["within"]
    assert ids["gap_exceeds_spread"]
    assert text["ref_over_arm"] == pytest.approx(1.0) and text["within"]
    assert ids["lo"] <= ids["ref_over_arm"] <= ids["hi"] and not math.isnan(ids["lo"])
    assert "ref_over_arm" not in rows[("vllm", "ttft_p50_ms")]
    assert "| 8 | ids | ttft_p50_ms | 5 |" in format_table(list(rows.values()), "vllm")


def _paired(arm, values, paired=True):
    return [{"rate": 8.0, "arm": arm, "round": i, "paired": paired,
             "metrics": {"ttft_p50_ms": v}} for i, v in enumerate(values)]


def test_paired_rounds_are_compared_round_by_round():
    # The engine drifts 20 -> 34 ms between rounds; in every round the reference reads
    # 4 % more than the arm. Paired: 1.04 with a tight interval; the ratio of the arms'
    # medians would carry the drift's spread into its interval.
    engine = [20.0, 34.0, 22.0, 30.0, 25.0, 28.0, 21.0]
    runs = _paired("text", engine) + _paired("vllm", [1.04 * v for v in engine])
    row = arm_table(runs, "vllm", ["ttft_p50_ms"])[0]
    assert row["stat"] == "paired" and row["n_pairs"] == 7
    assert row["ref_over_arm"] == pytest.approx(1.04)
    assert row["lo"] == pytest.approx(1.04) and row["hi"] == pytest.approx(1.04)
    assert row["within"]
    unpaired = arm_table(_paired("text", engine, False) + _paired("vllm", [1.04 * v for v in engine], False),
                         "vllm", ["ttft_p50_ms"])[0]
    assert unpaired["stat"] == "unpaired" and unpaired["hi"] - unpaired["lo"] > 0.2
    assert "medians of the rounds' ratios" in format_table([row], "vllm")


def test_a_round_without_its_pair_is_left_out_and_mixed_sets_stay_unpaired():
    runs = _paired("text", [20.0, 30.0, 25.0, 22.0]) + _paired("vllm", [21.0, 33.0, 26.0])
    row = arm_table(runs, "vllm", ["ttft_p50_ms"])[0]
    assert row["stat"] == "paired" and row["n_pairs"] == 3
    assert row["ref_over_arm"] == pytest.approx(1.05)  # median of 1.05, 1.10, 1.04
    mixed = _paired("text", [20.0, 30.0, 25.0]) + _paired("vllm", [21.0, 33.0, 26.0], False)
    assert arm_table(mixed, "vllm", ["ttft_p50_ms"])[0]["stat"] == "unpaired"


def test_interval_verdict_tells_shown_agreement_from_luck():
    assert interval_verdict(0.97, 1.03) == "inside"
    assert interval_verdict(0.82, 1.105) == "undecided"  # H100 light-load TTFT p99
    assert interval_verdict(1.06, 1.20) == "outside"
    assert interval_verdict(0.80, 0.949) == "outside"
    assert interval_verdict(0.94, 1.01) == "undecided"  # median may be inside; CI not
    assert interval_verdict(float("nan"), 1.0) == "undecided"


def test_a_noisy_p99_inside_by_its_median_is_reported_undecided():
    # Eight rounds whose ratios scatter +-15 % around 1: the median lands inside 5 %,
    # but the interval does not, and the table says so.
    ratios = [0.84, 1.16, 0.95, 1.04, 0.88, 1.12, 0.99, 1.02]
    runs = _paired("text", [40.0] * 8) + _paired("vllm", [40.0 * q for q in ratios])
    row = arm_table(runs, "vllm", ["ttft_p50_ms"])[0]
    assert row["within"] and row["decided"] == "undecided"
    tight = _paired("text", [40.0] * 8) + _paired("vllm", [40.0 * (1 + (q - 1) / 10)
                                                           for q in ratios])
    assert arm_table(tight, "vllm", ["ttft_p50_ms"])[0]["decided"] == "inside"
    assert "| yes | undecided |" in format_table([row], "vllm")
