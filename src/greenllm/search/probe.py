"""A ready-made probe: load a server at a rate with the streaming client, judge the SLO.

``find_max_throughput`` takes any ``rate -> ProbeResult`` function; this one is what the
measurement run wraps (it adds telemetry around each call) and what the integration
tests use. Each probe sends ``rate x duration_s`` requests (clamped to
``[min_requests, max_requests]``) on its own seeded arrival schedule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from greenllm.errors import ConfigError
from greenllm.load.arrivals import arrival_offsets_s
from greenllm.load.client import TokensPerChunk, records_to_frame, run_requests_sync
from greenllm.load.metrics import LoadMetrics, compute_metrics
from greenllm.load.workloads import Workload, workload_from
from greenllm.search.max_throughput import ProbeResult
from greenllm.search.slo import Slo, slo_verdict

OnProbe = Callable[[float, pd.DataFrame, LoadMetrics], None]


def probe_request_count(rate_rps: float, duration_s: float, min_requests: int,
                        max_requests: int) -> int:
    return int(min(max(math.ceil(rate_rps * duration_s), min_requests), max_requests))


def load_probe(
    base_url: str,
    model: str,
    workload: Workload | str | Mapping[str, Any],
    slo: Slo,
    *,
    duration_s: float,
    seed: int,
    timeout_s: float,
    min_requests: int = 20,
    max_requests: int = 5000,
    process: str = "poisson",
    cv: float = 1.0,
    tokens_per_chunk: TokensPerChunk = "auto",
    vocab_size: int = 32000,
    on_probe: OnProbe | None = None,
) -> Callable[[float], ProbeResult]:
    """A probe function for ``find_max_throughput``; ``on_probe(rate, frame, metrics)``
    sees every probe's requests (to store them)."""
    workload = workload_from(workload)
    if not (isinstance(duration_s, (int, float)) and duration_s > 0):
        raise ConfigError(f"probe duration_s must be positive, got {duration_s!r}")
    if not (1 <= min_requests <= max_requests):
        raise ConfigError(f"need 1 <= min_requests <= max_requests, got {min_requests}, "
                          f"{max_requests}")
    counter = [0]

    def probe(rate_rps: float) -> ProbeResult:
        counter[0] += 1
        n = probe_request_count(rate_rps, duration_s, min_requests, max_requests)
        probe_seed = seed * 1000 + counter[0]
        offsets = arrival_offsets_s(process, rate_rps, n, probe_seed, cv)
        records = run_requests_sync(
            base_url, model, workload, offsets, seed=probe_seed, timeout_s=timeout_s,
            tokens_per_chunk=tokens_per_chunk, vocab_size=vocab_size,
            request_id_prefix=f"probe{counter[0]:02d}-",
        )
        frame = records_to_frame(records)
        metrics = compute_metrics(frame, slo=slo, offered_rps=None)
        verdict = slo_verdict(metrics, slo)
        if on_probe is not None:
            on_probe(rate_rps, frame, metrics)
        return ProbeResult(rate_rps=rate_rps, meets_slo=verdict.ok,
                           metrics=metrics.to_dict(), verdict=verdict.to_dict())

    return probe
