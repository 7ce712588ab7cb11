"""Closed-loop load: a fixed number in flight, scattered lengths, engine-counted work."""

from __future__ import annotations

import numpy as np
import pytest
from sse_test_server import Behavior

from greenllm.engine.server_metrics import GENERATION_TOKENS, parse_counters, read_counter
from greenllm.errors import ConfigError, EngineError
from greenllm.load.closed_loop import output_lengths, run_closed_loop_sync
from greenllm.load.workloads import Workload

WL = Workload("T", 16, 20)


def in_flight(records, t: float) -> int:
    return sum(1 for r in records if r.send_s <= t < r.end_s)


def test_keeps_concurrency_in_flight_with_scattered_lengths(sse):
    sse.server.configure(Behavior(ttft_s=0.005, tbt_s=0.002))
    records = run_closed_loop_sync(sse.url, "m", WL, concurrency=6, duration_s=1.0, seed=1,
                                   timeout_s=10)
    assert all(r.ok for r in records) and len(records) > 6 * 5
    lengths = {r.output_tokens_requested for r in records}
    assert min(lengths) >= 10 and max(lengths) <= 30 and len(lengths) > 5
    assert all(len(r.token_times_s) == r.output_tokens_requested for r in records)
    bodies = sse.server.bodies[-len(records):]
    assert sorted(b["max_tokens"] for b in bodies) == sorted(r.output_tokens_requested
                                                            for r in records)
    # never more than the concurrency in flight; and that many for most of the run
    t0 = min(r.send_s for r in records)
    probes = np.linspace(t0 + 0.05, t0 + 0.95, 50)
    counts = [in_flight(records, t) for t in probes]
    assert max(counts) == 6 and np.median(counts) == 6
    assert max(r.send_s for r in records) - t0 < 1.0  # nothing is sent after the deadline


def test_a_dead_server_ends_the_run_with_the_failures_recorded(closed_port_url):
    records = run_closed_loop_sync(closed_port_url, "m", WL, concurrency=3, duration_s=30,
                                   seed=0, timeout_s=5)
    assert 3 <= len(records) <= 9 and not any(r.ok for r in records)
    assert all(r.error for r in records)


def test_bad_arguments_are_one_line():
    with pytest.raises(ConfigError, match="concurrency"):
        run_closed_loop_sync("http://127.0.0.1:1", "m", WL, concurrency=0, duration_s=1,
                             seed=0, timeout_s=5)
    with pytest.raises(ConfigError, match="spread"):
        output_lengths(WL, 4, 1.2, 0)
    assert output_lengths(WL, 5, 0.0, 0) == [20] * 5


VLLM_METRICS = """# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="llama-1b"} 1234.0
vllm:generation_tokens_total{engine="1",model_name="llama-1b"} 16.0
vllm:generation_tokens_created{engine="0",model_name="llama-1b"} 1.7e9
vllm:prompt_tokens_total{engine="0",model_name="llama-1b"} 99.0
"""


def test_counters_are_summed_over_engines():
    got = parse_counters(VLLM_METRICS, [GENERATION_TOKENS, "vllm:prompt_tokens_total", "x"])
    assert got == {GENERATION_TOKENS: 1250.0, "vllm:prompt_tokens_total": 99.0}


def test_a_server_without_metrics_is_one_line_error(sse, closed_port_url):
    with pytest.raises(EngineError, match="cannot read") as exc:
        read_counter(sse.url)  # the test server has no /metrics: HTTP 404
    assert "\n" not in str(exc.value)
    with pytest.raises(EngineError, match="cannot read"):
        read_counter(closed_port_url)


def test_the_simulated_engine_counts_what_the_client_received(sim_1b_server: str):
    url = sim_1b_server
    before = read_counter(url)
    records = run_closed_loop_sync(url, "m", WL, concurrency=10, duration_s=1.5, seed=2,
                                   timeout_s=30)
    after = read_counter(url + "/v1")
    assert all(r.ok for r in records)
    assert after - before == sum(len(r.token_times_s) for r in records) > 0
