"""Closed-loop load: a fixed number of requests always in flight, for a fixed time.

The measurement runs (``greenllm.load.client.run_requests``) are open loop, as in the
paper: arrivals follow a schedule whatever the server does. To measure what something
else costs the engine's *throughput* (e.g. the telemetry sampler, issue 6), a steady
saturated engine is needed instead, and a burst of equal requests is not steady: they are
admitted together and finish together, so the batch runs in synchronized waves of
prefills and decodes (seen on the H100: ~2 s waves for the 13B shape).

Here ``concurrency`` workers each send a request, wait for its stream to end and send the
next, until ``duration_s`` has passed. Output lengths are drawn uniformly from
``output_tokens × (1 ± output_spread)``, so requests finish at scattered times and the
batch stays mixed and full. With ``concurrency`` above the engine's max batch the engine
always has requests waiting, and a slow client (e.g. one that shares its process with a
sampler thread) cannot starve it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from greenllm.errors import ConfigError
from greenllm.load.client import (
    DEFAULT_VOCAB_SIZE,
    RequestRecord,
    TokensPerChunk,
    _check_duration,
    _check_positive_int,
    _open_run,
    _run_sync,
    _validate,
)
from greenllm.load.workloads import Workload, workload_from

POOL_PER_WORKER = 8  # distinct prompts per worker: bodies are pre-built, then cycled


def output_lengths(workload: Workload, n: int, spread: float, seed: int) -> list[int]:
    """``n`` output lengths uniform in ``output_tokens × [1 - spread, 1 + spread]`` (>= 1)."""
    if not (isinstance(spread, (int, float)) and 0.0 <= spread < 1.0):
        raise ConfigError(f"output spread must be in [0, 1), got {spread!r}")
    lo = max(1, round(workload.output_tokens * (1.0 - spread)))
    hi = max(lo, round(workload.output_tokens * (1.0 + spread)))
    rng = np.random.default_rng([int(seed), 0xC10])
    return rng.integers(lo, hi + 1, size=n).tolist()


async def run_closed_loop(
    base_url: str,
    model: str,
    workload: Workload | str | Mapping[str, Any],
    *,
    concurrency: int,
    duration_s: float,
    seed: int,
    timeout_s: float,
    output_spread: float = 0.5,
    tokens_per_chunk: TokensPerChunk = "auto",
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    request_id_prefix: str = "",
) -> list[RequestRecord]:
    """Keep ``concurrency`` requests in flight for ``duration_s``; every record, in send
    order. Requests still streaming at the end are waited for (they are complete records
    of the load that was running). A failed request is recorded and replaced, as a
    server's client would; if every worker fails at once the server is gone and the run
    ends early rather than spin."""
    workload = workload_from(workload)
    _check_positive_int("concurrency", concurrency)
    _check_duration(duration_s)
    _validate(np.zeros(1), timeout_s, tokens_per_chunk, seed)
    pool = concurrency * POOL_PER_WORKER
    lengths = output_lengths(workload, pool, output_spread, seed)
    records: list[RequestRecord] = []
    async with _open_run(None, base_url, model, workload, pool, int(seed), timeout_s,
                         tokens_per_chunk, vocab_size, request_id_prefix, None, True,
                         lengths) as run:
        t0 = time.monotonic()
        deadline = t0 + float(duration_s)
        next_index = 0
        consecutive_failures = 0

        async def worker() -> None:
            nonlocal next_index, consecutive_failures
            while time.monotonic() < deadline and consecutive_failures < concurrency:
                index = next_index
                next_index += 1
                now = time.monotonic()
                rec = run.new_record(index, now - t0, now)
                records.append(rec)
                await run.send(rec)
                consecutive_failures = 0 if rec.ok else consecutive_failures + 1
                if not rec.ok:
                    await asyncio.sleep(0.05)  # a refused connection must not spin

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records


def run_closed_loop_sync(*args: Any, **kwargs: Any) -> list[RequestRecord]:
    """``run_closed_loop`` for callers without an event loop (same arguments)."""
    return _run_sync(run_closed_loop(*args, **kwargs))
