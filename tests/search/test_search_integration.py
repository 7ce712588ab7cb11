"""Baseline and max-throughput search against a real local server of known capacity."""

import pytest
from sse_test_server import Behavior, ServerThread, SseServer

from greenllm.search import find_max_throughput, load_probe, measure_slo_sync

TINY = {"id": "tiny", "input_tokens": 20, "output_tokens": 5}
SLOTS, TTFT_S, TBT_S = 4, 0.020, 0.020
# One request holds a slot for TTFT + 4 gaps = 100 ms: 4 slots serve 40 req/s at most.
CAPACITY_RPS = SLOTS / (TTFT_S + 4 * TBT_S)


@pytest.fixture
def limited_server():
    thread = ServerThread(SseServer(Behavior(ttft_s=TTFT_S, tbt_s=TBT_S, slots=SLOTS))).start()
    thread.server.keep_bodies = False
    yield thread
    thread.stop()


def test_search_finds_the_capacity_of_a_real_server(limited_server):
    url = limited_server.url
    slo, baseline = measure_slo_sync(url, "m", TINY, scale=3.0, percentile=90, n_requests=8,
                                     seed=1, timeout_s=5, gap_s=0.005)
    assert len(baseline) == 8 and baseline["ok"].all()
    # Alone, requests see the programmed latencies (plus overheads that grow when other
    # processes crowd this machine's cores: hence one-sided margins).
    assert TTFT_S - 0.0005 <= slo.baseline_ttft_s <= TTFT_S + 0.010
    assert TBT_S - 0.0005 <= slo.baseline_tbt_s <= TBT_S + 0.005

    seen = []
    probe = load_probe(url, "m", TINY, slo, duration_s=0.4, seed=2, timeout_s=10,
                       min_requests=16, process="constant",
                       on_probe=lambda rate, frame, metrics: seen.append((rate, len(frame))))
    result = find_max_throughput(probe, start_rps=10, max_probes=8, rel_tol=0.15,
                                 min_rps=5, max_rps=400, time_budget_s=30)
    assert len(result.probes) <= 8 and len(seen) == len(result.probes)
    assert result.upper_rps is not None, result.to_dict()
    # Below capacity nothing queues; above it the queue grows and TTFT breaks the SLO.
    assert 0.6 * CAPACITY_RPS <= result.rps <= 1.1 * CAPACITY_RPS, result.to_dict()
    failing = [p for p in result.probes if not p.meets_slo]
    assert all(p.rate_rps > 0.6 * CAPACITY_RPS for p in failing)
    assert all(p.metrics["n_requests"] >= 16 for p in result.probes)
