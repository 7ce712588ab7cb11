"""The search on probe functions whose capacity is known."""

import math
import time

import pytest

from greenllm.errors import ConfigError
from greenllm.search.max_throughput import ProbeResult, find_max_throughput


def capacity_probe(capacity_rps, calls):
    def probe(rate):
        calls.append(rate)
        return ProbeResult(rate_rps=rate, meets_slo=rate <= capacity_rps)
    return probe


@pytest.mark.parametrize("capacity, start", [(7.3, 1.0), (7.3, 50.0), (0.37, 2.0),
                                             (120.0, 120.0)])
def test_finds_known_capacity_within_tolerance_and_budget(capacity, start):
    calls = []
    result = find_max_throughput(capacity_probe(capacity, calls), start_rps=start,
                                 max_probes=12, rel_tol=0.05, min_rps=0.05, max_rps=1000)
    assert result.converged and result.stop_reason == "converged"
    assert result.rps <= capacity and result.rps >= capacity / 1.05
    assert result.lower_rps == result.rps
    assert result.upper_rps > capacity and result.upper_rps / result.lower_rps <= 1.05
    assert len(result.probes) == len(calls) <= 12
    assert [p.rate_rps for p in result.probes] == calls


def test_probe_budget_bounds_the_search():
    calls = []
    result = find_max_throughput(capacity_probe(7.3, calls), start_rps=1.0, max_probes=5,
                                 rel_tol=0.01, min_rps=0.1, max_rps=100)
    assert len(calls) == 5 and result.stop_reason == "max_probes" and not result.converged
    # Probes 1, 2, 4, 8 (fail), then sqrt(4 x 8): the best pass and an honest bracket.
    assert calls[:4] == [1, 2, 4, 8] and calls[4] == pytest.approx(math.sqrt(32))
    assert result.rps == calls[4] and (result.lower_rps, result.upper_rps) == (calls[4], 8)


def test_time_budget_bounds_the_search():
    def slow_probe(rate):
        time.sleep(0.05)
        return ProbeResult(rate_rps=rate, meets_slo=rate <= 7.3)

    t0 = time.monotonic()
    result = find_max_throughput(slow_probe, start_rps=1.0, max_probes=50, rel_tol=0.001,
                                 min_rps=0.1, max_rps=100, time_budget_s=0.22)
    assert result.stop_reason == "time_budget"
    assert time.monotonic() - t0 <= 0.22 + 0.03
    assert 1 <= len(result.probes) <= 4
    assert all(p.duration_s >= 0.05 for p in result.probes)


def test_edges_max_passes_and_min_fails():
    top = find_max_throughput(capacity_probe(math.inf, []), start_rps=3, max_probes=20,
                              rel_tol=0.05, min_rps=1, max_rps=40)
    assert top.stop_reason == "max_rps_passes" and top.rps == 40 and top.upper_rps is None
    bottom = find_max_throughput(capacity_probe(0.0, []), start_rps=3, max_probes=20,
                                 rel_tol=0.05, min_rps=1, max_rps=40)
    assert bottom.stop_reason == "min_rps_fails" and bottom.rps is None
    assert bottom.lower_rps is None and bottom.upper_rps == 1
    assert bottom.to_dict()["rps"] is None


def test_to_dict_carries_the_probes_and_the_best_probe_tokens():
    def probe(rate):
        return ProbeResult(rate_rps=rate, meets_slo=rate <= 5,
                           metrics={"output_tok_s": rate * 100, "n_requests": 10,
                                    "ttft_s": {"p50": 0.1}, "tbt_s": {"p50": 0.01},
                                    "achieved_rps": rate})
    result = find_max_throughput(probe, start_rps=4, max_probes=10, rel_tol=0.1,
                                 min_rps=1, max_rps=64)
    out = result.to_dict()
    assert out["rps"] == result.rps and out["output_tok_s"] == pytest.approx(result.rps * 100)
    assert [p["rate_rps"] for p in out["probes"]] == [p.rate_rps for p in result.probes]
    assert {"rate_rps", "meets_slo", "ttft_s", "tbt_s", "achieved_rps", "n"} <= set(
        out["probes"][0])


@pytest.mark.parametrize("kwargs, match", [
    ({"start_rps": 0}, "start_rps"),
    ({"rel_tol": 0}, "rel_tol"),
    ({"max_probes": 0}, "max_probes"),
    ({"min_rps": 10, "max_rps": 5}, "max_rps"),
    ({"time_budget_s": -1}, "time_budget_s"),
])
def test_bad_arguments_fail_before_probing(kwargs, match):
    calls = []
    args = {"start_rps": 1, "max_probes": 5, "rel_tol": 0.1, "min_rps": 0.1, "max_rps": 10} | kwargs
    with pytest.raises(ConfigError, match=match):
        find_max_throughput(capacity_probe(1, calls), **args)
    assert calls == []


def test_probe_may_return_a_bool_or_a_metrics_pair():
    plain = find_max_throughput(lambda r: r <= 7.3, start_rps=1, max_probes=12, rel_tol=0.05,
                                min_rps=0.1, max_rps=100)
    paired = find_max_throughput(lambda r: ({"n_requests": 3}, r <= 7.3), start_rps=1,
                                 max_probes=12, rel_tol=0.05, min_rps=0.1, max_rps=100)
    assert plain.rps == paired.rps and 7.3 / 1.05 <= plain.rps <= 7.3
    assert paired.probes[0].metrics == {"n_requests": 3}
    with pytest.raises(TypeError):
        find_max_throughput(lambda r: "yes", start_rps=1, max_probes=3, rel_tol=0.05,
                            min_rps=0.1, max_rps=100)
