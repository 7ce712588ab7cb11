"""What a search established, in flags and words, on probes of known capacity."""

import pytest

from greenllm.search.max_throughput import ProbeResult, find_max_throughput
from greenllm.search_outcome import describe_search, found_max_throughput, search_flags


def search(capacity, start, max_probes, **kw):
    def probe(rate):
        return ProbeResult(rate_rps=rate, meets_slo=rate <= capacity,
                           verdict={"reasons": [] if rate <= capacity else ["TBT p90 too high"]})
    kw = {"rel_tol": 0.1, "min_rps": 0.1, "max_rps": 1000, **kw}
    return find_max_throughput(probe, start_rps=start, max_probes=max_probes, **kw).to_dict()


def test_every_probe_missing_until_max_probes_is_no_max_and_unbracketed():
    # The H200 smoke search: 146 -> 73 -> 37 req/s all missed, capacity lower still.
    block = search(capacity=20, start=146, max_probes=3)
    assert block["rps"] is None and block["stop_reason"] == "max_probes"
    assert block["flags"] == search_flags(block) == ["no_max_throughput", "unbracketed"]
    assert not found_max_throughput(block)
    line = describe_search(block)
    assert line.startswith("no max throughput: none of 3 probes at 146 -> 73 -> 36.5 req/s")
    assert "TBT p90 too high" in line and "max_probes before bracketing" in line


def test_every_probe_passing_until_max_probes_is_a_lower_bound():
    block = search(capacity=500, start=10, max_probes=3)
    assert block["rps"] == 40 and block["upper_rps"] is None
    assert block["flags"] == ["unbracketed"] and found_max_throughput(block)
    assert "40 req/s is only a lower bound" in describe_search(block)


def test_bracketed_but_stopped_early_is_not_converged():
    block = search(capacity=7.3, start=1, max_probes=5, rel_tol=0.01)
    assert block["flags"] == ["not_converged"]
    assert "with the limit in [5.657, 8)" in describe_search(block)


@pytest.mark.parametrize("capacity, start", [(7.3, 1), (7.3, 50)])
def test_converged_search_has_no_flags(capacity, start):
    block = search(capacity, start, max_probes=20)
    assert block["flags"] == [] and describe_search(block) is None


def test_min_rps_fails_is_no_max_but_decided():
    block = search(capacity=0.05, start=1, max_probes=20)
    assert block["stop_reason"] == "min_rps_fails" and block["flags"] == ["no_max_throughput"]
    assert describe_search(block).endswith("stopped at min_rps_fails")


def test_absent_search_is_not_judged():
    assert search_flags(None) == [] and found_max_throughput(None)
