"""Measure the SLO baseline: requests sent alone, one after another.

Run it with the GPU at its maximum clock (the caller pins the clock); the server then
handles one request at a time, with no batching and no queueing (paper §III).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pandas as pd

from greenllm.errors import ConfigError
from greenllm.load.client import (
    ProgressCallback,
    TokensPerChunk,
    records_to_frame,
    run_sequential,
)
from greenllm.load.workloads import Workload
from greenllm.search.slo import Slo, baseline_from


async def run_baseline(
    base_url: str,
    model: str,
    workload: Workload | str | Mapping[str, Any],
    n_requests: int = 20,
    *,
    seed: int,
    timeout_s: float,
    gap_s: float = 0.05,
    tokens_per_chunk: TokensPerChunk = "auto",
    on_progress: ProgressCallback | None = None,
    vocab_size: int = 32000,
    warmup_requests: int = 1,
) -> pd.DataFrame:
    """The requests frame of ``n_requests`` sent alone (store it beside the baseline).

    ``warmup_requests`` more are sent first and left out: the first request of a client
    process pays one-off costs (lazy imports, a new connection) worth milliseconds.
    """
    if isinstance(warmup_requests, bool) or not isinstance(warmup_requests, int) or \
            warmup_requests < 0:
        raise ConfigError(f"warmup_requests must be an integer >= 0, got {warmup_requests!r}")
    records = await run_sequential(
        base_url, model, workload, warmup_requests + n_requests, seed=seed,
        timeout_s=timeout_s, gap_s=gap_s, tokens_per_chunk=tokens_per_chunk,
        on_progress=on_progress, vocab_size=vocab_size, request_id_prefix="baseline-",
    )
    return records_to_frame(records[warmup_requests:])


async def measure_slo(
    base_url: str,
    model: str,
    workload: Workload | str | Mapping[str, Any],
    *,
    scale: float,
    percentile: float,
    n_requests: int = 20,
    seed: int,
    timeout_s: float,
    **kwargs: Any,
) -> tuple[Slo, pd.DataFrame]:
    """``run_baseline`` then ``baseline_from``: the SLO and the frame it came from."""
    frame = await run_baseline(base_url, model, workload, n_requests, seed=seed,
                               timeout_s=timeout_s, **kwargs)
    return baseline_from(frame, scale=scale, percentile=percentile), frame


def run_baseline_sync(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """``run_baseline`` for callers without an event loop (same arguments)."""
    return asyncio.run(run_baseline(*args, **kwargs))


def measure_slo_sync(*args: Any, **kwargs: Any) -> tuple[Slo, pd.DataFrame]:
    """``measure_slo`` for callers without an event loop (same arguments)."""
    return asyncio.run(measure_slo(*args, **kwargs))
