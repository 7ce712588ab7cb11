"""greenllm.load.sustained: a rate counts as sustained only when its queue does not grow.

Against the real simulated server (a subprocess, the simulator's scheduler at max batch
2): twice a burst's throughput builds a queue, a third of it does not, and the ladder
stops at the first sustained rate. Plus the check's own edge cases on plain frames."""

from __future__ import annotations

import pandas as pd
import pytest

from greenllm.load.arrivals import vllm_bench_offsets_s
from greenllm.load.client import records_to_frame, run_requests_sync
from greenllm.load.sustained import check_sustained, sustained_capacity
from greenllm.load.workloads import Workload
from simtest_helpers import SimServer, one_gpu_server


@pytest.fixture(scope="module")
def small_engine(tmp_path_factory):
    with one_gpu_server(tmp_path_factory.mktemp("sustained"), max_num_seqs=2) as (srv, _):
        yield srv


def _run(srv: SimServer, rate: float, n: int = 32, seed: int = 0) -> pd.DataFrame:
    offsets = vllm_bench_offsets_s(rate, n, seed) if rate > 0 else [0.0] * n
    records = run_requests_sync(srv.url, "m", Workload("t", 64, 64), offsets, seed=seed,
                                timeout_s=60)
    return records_to_frame(records)


def test_overload_builds_a_queue_and_the_ladder_stops_at_a_sustained_rate(small_engine):
    burst = _run(small_engine, 0.0)
    burst_rps = len(burst) / float(burst["end_s"].max() - burst["send_s"].min())
    probed: list[float] = []

    def run_at(rate: float) -> pd.DataFrame:
        probed.append(rate)
        return _run(small_engine, rate)

    seen: list[tuple[int, float]] = []
    rate, checks = sustained_capacity(run_at, burst_rps, ladder=(0.3, 2.0),
                                      on_check=lambda f, c: seen.append((len(f), c.rate_rps)))
    assert probed == [round(2.0 * burst_rps, 2), round(0.3 * burst_rps, 2)]  # highest first
    assert seen == [(32, r) for r in probed]  # each run with its own check, as it ended
    assert not checks[0].sustained and "queue grows" in checks[0].reason
    assert checks[0].ttft_last_s > 2 * checks[0].ttft_first_s
    assert checks[1].sustained and rate == probed[1]


def _frame(ttfts: list[float], ok: list[bool] | None = None) -> pd.DataFrame:
    send = [0.1 * i for i in range(len(ttfts))]
    return pd.DataFrame({"send_s": send, "first_token_s": [s + t for s, t in zip(send, ttfts)],
                         "ok": ok if ok is not None else [True] * len(ttfts)})


def test_a_flat_ttft_is_sustained_and_a_climbing_one_is_not():
    assert check_sustained(_frame([0.02] * 40), 10.0).sustained
    climbing = check_sustained(_frame([0.02 + 0.01 * i for i in range(40)]), 10.0)
    assert not climbing.sustained and climbing.ttft_last_s > climbing.ttft_first_s


def test_failed_requests_or_too_few_are_never_sustained():
    failed = check_sustained(_frame([0.02] * 40, ok=[True] * 39 + [False]), 10.0)
    assert not failed.sustained and failed.reason == "1 requests failed"
    assert not check_sustained(_frame([0.02] * 5), 10.0).sustained


def test_nothing_sustained_is_none_and_a_bad_burst_is_an_error():
    rate, checks = sustained_capacity(
        lambda r: _frame([0.02 + 0.01 * i for i in range(40)]), 10.0, ladder=(0.5, 0.4))
    assert rate is None and len(checks) == 2
    with pytest.raises(ValueError, match="burst throughput"):
        sustained_capacity(lambda r: _frame([0.02] * 40), 0.0)
