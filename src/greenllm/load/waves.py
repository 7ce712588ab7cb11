"""Repeated identical waves: the same batch of requests, sent at once, again and again.

To measure what something costs the engine's throughput (the telemetry sampler, issue 6)
each comparison needs the same work done under both conditions. A closed loop
(``greenllm.load.closed_loop``) keeps the engine saturated but its batch changes from
moment to moment (which requests are in it, how long their contexts are), and on the
H100 that alone moved a 13B engine's 5 s throughput by 3.7 %, far above a 0.5 % effect.

A wave here is ``size`` requests with the same prompts and output lengths every time
(``ignore_eos``: every request generates exactly its output length), all sent at once.
With ``size`` at most the engine's max batch they are admitted together, prefilled and
decoded in lock step and finish together, so every wave is the same sequence of engine
steps and its duration is the measurement. ``before(k)`` and ``after(k)`` run outside
each wave's timed span (e.g. to switch a sampler on or read a counter).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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


@dataclass
class Wave:
    index: int
    t0: float  # time.monotonic() just before the first request was sent
    t1: float  # ... just after the last stream ended
    records: list[RequestRecord] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(len(r.token_times_s) for r in self.records)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records if not r.ok)


async def run_waves(
    base_url: str,
    model: str,
    workload: Workload | str | Mapping[str, Any],
    *,
    size: int,
    duration_s: float,
    seed: int,
    timeout_s: float,
    max_waves: int | None = None,
    before: Callable[[int], None] | None = None,
    after: Callable[[int], None] | None = None,
    tokens_per_chunk: TokensPerChunk = "auto",
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    request_id_prefix: str = "",
) -> list[Wave]:
    """Send waves of ``size`` identical requests until ``duration_s`` has passed (a wave
    that has started is finished) or ``max_waves`` were sent. Every wave reuses the same
    pre-built bodies (same ``seed``: same prompts); request ids stay unique. A wave in
    which every request failed ends the run (the server is gone): its records are kept."""
    workload = workload_from(workload)
    _check_positive_int("wave size", size)
    _check_duration(duration_s)
    if max_waves is not None:
        _check_positive_int("max waves", max_waves)
    _validate(np.zeros(1), timeout_s, tokens_per_chunk, seed)
    waves: list[Wave] = []
    async with _open_run(None, base_url, model, workload, size, int(seed), timeout_s,
                         tokens_per_chunk, vocab_size, request_id_prefix, None, True) as run:
        start = time.monotonic()
        deadline = start + float(duration_s)
        k = 0
        while time.monotonic() < deadline and (max_waves is None or k < max_waves):
            if before is not None:
                before(k)
            t0 = time.monotonic()
            records = [run.new_record(k * size + i, t0 - start, t0) for i in range(size)]
            await asyncio.gather(*(run.send(rec) for rec in records))
            wave = Wave(k, t0, time.monotonic(), records)
            if after is not None:
                after(k)
            waves.append(wave)
            if wave.failed == size:
                break
            k += 1
    return waves


def run_waves_sync(*args: Any, **kwargs: Any) -> list[Wave]:
    """``run_waves`` for callers without an event loop (same arguments)."""
    return _run_sync(run_waves(*args, **kwargs))
