"""Metric definitions on hand-made records whose every time is known."""

import math

import numpy as np
import pytest
from synthetic_records import make_record

from greenllm.load.client import records_to_frame
from greenllm.load.metrics import compute_metrics, percentile_block, token_gaps_s
from greenllm.search.slo import Slo


def test_gaps_of_single_and_multi_token_chunks():
    assert token_gaps_s([1.0, 1.1, 1.3]).tolist() == pytest.approx([0.1, 0.2])
    # A 3-token chunk 0.3 s after the previous one: three gaps of 0.1 s.
    assert token_gaps_s([1.0, 1.3, 1.3, 1.3]).tolist() == pytest.approx([0.1, 0.1, 0.1])
    # Extra tokens of the first chunk have no preceding arrival: no gap for them.
    assert token_gaps_s([1.0, 1.0, 1.2]).tolist() == pytest.approx([0.2])
    assert token_gaps_s([1.0]).size == 0 and token_gaps_s([]).size == 0


def test_percentile_block():
    block = percentile_block(np.arange(101.0))
    assert block == {"mean": 50.0, "p50": 50.0, "p90": 90.0, "p99": 99.0, "n": 101}
    assert percentile_block([]) == {"mean": None, "p50": None, "p90": None, "p99": None,
                                    "n": 0}


def test_latencies_exclude_failures_and_match_vllm_definitions():
    records = [
        make_record(0, send_s=10.0, ttft_s=0.10, chunk_gaps_s=[0.02] * 9),
        make_record(1, send_s=11.0, ttft_s=0.30, chunk_gaps_s=[0.04] * 9),
        make_record(2, send_s=12.0, ttft_s=9.0, chunk_gaps_s=[], ok=False),
    ]
    m = compute_metrics(records_to_frame(records))
    assert (m.n_requests, m.n_ok, m.n_failed) == (3, 2, 1)
    assert m.ttft_s["n"] == 2 and m.ttft_s["mean"] == pytest.approx(0.20)
    assert m.e2e_s["p50"] == pytest.approx((0.28 + 0.66) / 2)
    # TPOT = (E2E - TTFT) / (output_tokens - 1), per request.
    assert m.tpot_s["n"] == 2 and m.tpot_s["mean"] == pytest.approx(0.03)
    assert m.tpot_s["p99"] == pytest.approx(0.02 + 0.99 * 0.02)
    assert m.tbt_s["n"] == 18 and m.tbt_s["mean"] == pytest.approx(0.03)
    assert m.errors == {"HTTP 500: programmed failure": 1}
    # Window: first send (10.0) to the last response end (12.0 + 9.0 of the failure).
    assert m.duration_s == pytest.approx(11.0)
    assert m.throughput_rps == pytest.approx(2 / 11.0)
    assert m.output_tok_s == pytest.approx(20 / 11.0)


def test_tpot_uses_reported_output_tokens():
    # Chunks of 2 tokens, usage says 10: TPOT = (4 x 0.05) / 9.
    rec = make_record(0, send_s=0.0, ttft_s=0.1, chunk_gaps_s=[0.05] * 4, tokens_per_chunk=2)
    m = compute_metrics(records_to_frame([rec]))
    assert m.tpot_s["p50"] == pytest.approx(0.2 / 9)
    assert m.tbt_s["n"] == 8 and m.tbt_s["p50"] == pytest.approx(0.025)


def test_explicit_window_counts_only_what_falls_inside():
    records = [make_record(i, send_s=float(i), ttft_s=0.1, chunk_gaps_s=[0.1] * 4)
               for i in range(5)]  # request i ends at i + 0.5
    m = compute_metrics(records_to_frame(records), window_s=(1.0, 3.0))
    assert m.duration_s == 2.0
    assert m.throughput_rps == pytest.approx(2 / 2.0)  # requests 1 and 2 end inside
    # Tokens arriving in [1, 3]: requests 1 and 2 fully (5 each), none of 0 or 3.
    assert m.output_tok_s == pytest.approx(10 / 2.0)


def test_offered_and_achieved_rates():
    # Offered every 0.1 s; the server returns one response every 0.2 s (overloaded).
    records = [make_record(i, send_s=0.1 * i, ttft_s=0.05 + 0.1 * i, chunk_gaps_s=[0.01])
               for i in range(11)]
    m = compute_metrics(records_to_frame(records))
    assert m.offered_rps == pytest.approx(10.0)
    assert m.achieved_rps == pytest.approx(5.0)
    assert compute_metrics(records_to_frame(records), offered_rps=4.0).offered_rps == 4.0


def test_goodput_and_attainment_hold_each_request_to_the_slo():
    slo = Slo(ttft_s=0.2, tbt_s=0.03, percentile=90)
    records = [
        make_record(0, send_s=0.0, ttft_s=0.1, chunk_gaps_s=[0.02] * 9),  # good
        make_record(1, send_s=1.0, ttft_s=0.5, chunk_gaps_s=[0.02] * 9),  # TTFT too long
        make_record(2, send_s=2.0, ttft_s=0.1, chunk_gaps_s=[0.05] * 9),  # TBT too long
        make_record(3, send_s=3.0, ttft_s=0.1, chunk_gaps_s=[0.02] * 8 + [0.2]),  # one stall
        make_record(4, send_s=4.0, ttft_s=0.1, chunk_gaps_s=[], ok=False),
    ]
    m = compute_metrics(records_to_frame(records), slo=slo)
    # Request 3: p90 of eight 0.02 gaps and one 0.2 gap is 0.056 > 0.03: not good.
    assert m.slo_attainment == pytest.approx(1 / 5)
    assert m.goodput_rps == pytest.approx(1 / m.duration_s)
    assert compute_metrics(records_to_frame(records)).goodput_rps is None


def test_empty_frame_gives_nans_not_errors():
    m = compute_metrics(records_to_frame([]))
    assert m.n_requests == 0 and m.ttft_s["n"] == 0
    assert math.isnan(m.throughput_rps) and math.isnan(m.achieved_rps)
