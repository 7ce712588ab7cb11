"""The latency-gap analysis: server histogram means from two scrapes, and the arm table."""

import math

import pytest

from greenllm.analysis.latency_gap import (
    arm_table,
    format_table,
    histogram_means_ms,
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
