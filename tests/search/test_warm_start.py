"""Warm-started search: same answer as the cold search, fewer probes when the prior is good."""

from __future__ import annotations

import pytest

from greenllm.search import find_max_throughput
from greenllm.search.max_throughput import ProbeResult
from greenllm.search.warm_start import Prior, ProbeCache, prior_from_neighbours, warm_search

TOL = 0.15
KW = {"max_probes": 14, "rel_tol": TOL, "min_rps": 0.05, "max_rps": 500.0}


def capacity_probe(capacity: float, calls: list[float]):
    def probe(rate: float) -> ProbeResult:
        calls.append(rate)
        return ProbeResult(rate_rps=rate, meets_slo=rate <= capacity)
    return probe


@pytest.mark.parametrize("capacity", [0.7, 3.3, 12.0, 47.0, 180.0])
@pytest.mark.parametrize("prior_error", [0.9, 1.05, 1.3, 3.0, 0.2])
def test_warm_search_brackets_the_capacity_like_the_cold_one(capacity, prior_error):
    calls: list[float] = []
    prior = Prior(capacity * prior_error, None, "test")
    res = warm_search(capacity_probe(capacity, calls), prior, **KW)
    assert res.converged and res.stop_reason == "converged"
    assert res.lower_rps <= capacity < res.upper_rps
    assert res.upper_rps / res.lower_rps <= 1 + TOL
    assert res.rps == res.lower_rps and len(res.probes) == len(calls)


def test_a_good_prior_needs_far_fewer_probes_than_a_cold_start():
    warm_n = cold_n = 0
    for capacity in (0.7, 2.0, 5.5, 12.0, 31.0, 47.0, 90.0, 180.0):
        calls: list[float] = []
        cold = find_max_throughput(capacity_probe(capacity, calls), start_rps=10.0, **KW)
        assert cold.lower_rps <= capacity < cold.upper_rps
        cold_n += len(cold.probes)
        # the neighbouring clock's capacity: within 10 %
        warm = warm_search(capacity_probe(capacity, []), Prior(capacity * 0.92, capacity * 1.06,
                                                                 "clock f1980"), **KW)
        warm_n += len(warm.probes)
    assert warm_n <= 0.5 * cold_n, (warm_n, cold_n)


def test_bounds_are_reported_like_the_cold_search():
    res = warm_search(capacity_probe(1e9, []), Prior(400.0, None, "x"), **KW)
    assert res.stop_reason == "max_rps_passes" and res.rps == 500.0 and res.upper_rps is None
    res = warm_search(capacity_probe(0.0, []), Prior(1.0, None, "x"), **KW)
    assert res.stop_reason == "min_rps_fails" and res.rps is None and res.lower_rps is None
    res = warm_search(capacity_probe(3.0, []), Prior(300.0, None, "x"), **{**KW, "max_probes": 2})
    assert res.stop_reason == "max_probes" and not res.converged


def test_noisy_probe_near_the_boundary_is_decided_by_majority():
    answers = iter([True, False, False])  # first probe near the SLO: two more say no

    def probe(rate: float) -> ProbeResult:
        return ProbeResult(rate_rps=rate, meets_slo=next(answers, rate < 9.0), margin=0.01)
    res = warm_search(probe, Prior(10.0, None, "x"), **KW, confirm_repeats=2)
    assert res.probes[1].confirmation_of == 0 and res.probes[0].decided is False
    assert res.upper_rps <= res.probes[0].rate_rps


def test_prior_is_the_nearest_searched_clock():
    assert prior_from_neighbours({1980: (10.0, 11.0), 1200: (None, 0.1)}, 1800) == Prior(
        10.0, 11.0, "clock f1980")  # 1200 found nothing: one clock, its bracket
    brackets = {1980: (10.0, 10.0), 1780: (8.0, 8.0), 1200: (None, 0.1)}
    trend = prior_from_neighbours(brackets, 1580)
    assert trend.source == "clocks f1780, f1980 (trend)"
    assert trend.centre_rps == pytest.approx(8.0 * 0.8)  # the same ratio per 200 MHz
    far = prior_from_neighbours(brackets, 345)
    assert far.centre_rps == pytest.approx(4.0)  # never more than a factor 2 off the nearest
    assert prior_from_neighbours({}, 1400) is None


def test_cache_reuses_a_probe_at_the_same_rate_of_the_same_cell():
    calls: list[float] = []
    cache = ProbeCache()
    probe = cache.wrap("i", "f1980", "M-M", capacity_probe(5.0, calls))
    first = warm_search(probe, Prior(5.0, None, "x"), **KW)
    again = warm_search(probe, Prior(5.0, None, "x"), **KW)
    assert again.rps == first.rps and cache.hits == len(again.probes)
    assert len(calls) == len(first.probes)
    other = cache.wrap("i", "f1800", "M-M", capacity_probe(5.0, calls))
    warm_search(other, Prior(5.0, None, "x"), **KW)
    assert len(calls) == 2 * len(first.probes)  # another clock is another cell
