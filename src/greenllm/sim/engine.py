"""The simulated engine core: one asyncio task that runs iterations in (simulated) real time.

``ModelEngine`` asks the scheduler for a batch, prices it with the performance model at
the SimGpu's *current* effective clock (read every iteration, so a clock pinned from
another process changes speed at once), drives the SimGpu's load for every GPU of the
instance during the iteration, sleeps until the iteration's absolute deadline and then
emits the batch's tokens to the HTTP responses waiting for them. When SimGpu's power
limiter (which acts on power averaged over time) will engage during the iteration, the
work after that instant is priced at the capped clock.

``FixedLatencyEngine`` ignores load: every request gets exactly the programmed TTFT and
TBT (for testing clients).

Timing: deadlines are absolute (``loop.time()``, i.e. ``time.monotonic()``); an iteration
starts where the previous one ended, so host work between iterations does not add
drift. epoll waits in whole milliseconds, so each wait ends with a short blocking
``time.sleep`` to land within ~0.1 ms of the deadline instead of up to 1 ms late.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from greenllm.sim.perf_model import IterationCost, PerfModel
from greenllm.sim.protocol import ChunkTemplates
from greenllm.sim.response_sink import ResponseChoice, ResponseSink, emit_token
from greenllm.sim.scheduler import Scheduler, SimRequest

# Waits shorter than this end in a blocking sleep (epoll's 1 ms granularity + margin).
_SPIN_WINDOW_S = 0.0012
# If the loop falls further behind than this (CPU starved, GC), restart timing from now
# rather than compressing the following iterations to catch up.
_MAX_LAG_S = 0.010
# Loads within this of the last value sent are not re-sent to the SimGpu.
_LOAD_EPSILON = 0.01


class GpuLike(Protocol):
    """The part of ``greenllm.gpu.sim.SimGpu`` the engine uses."""

    def set_load(self, index: int, compute: float, memory: float) -> None: ...

    def effective_sm_clock_mhz(self, index: int) -> float: ...


@dataclass
class EngineStats:
    iterations: int = 0
    tokens_emitted: int = 0
    requests_finished: int = 0
    lag_resets: int = 0
    busy_s: float = 0.0
    last_clock_mhz: float = 0.0


class BaseEngine:
    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size
        self.stats = EngineStats()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None

    def new_sink(
        self, model: str, prompt_lens: Sequence[int], max_tokens: int, stream: bool
    ) -> ResponseSink:
        """Create the response sink and its sequences (not yet submitted)."""
        sink = ResponseSink(ChunkTemplates(model, len(prompt_lens)), len(prompt_lens), stream)
        for i, n in enumerate(prompt_lens):
            choice = ResponseChoice(sink, i, sink.templates.head(i), seed=n * 31 + i)
            sink.requests.append(
                SimRequest(f"{sink.templates.request_id}-{i}", n, max_tokens, tag=choice)
            )
        return sink

    def submit(self, sink: ResponseSink) -> None:
        raise NotImplementedError

    def abort(self, sink: ResponseSink) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-engine")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def _poke(self) -> None:
        w = self._wake
        if w is not None and not w.done():
            w.set_result(None)

    async def _idle_wait(self) -> None:
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await self._wake
        finally:
            self._wake = None

    async def _run(self) -> None:
        raise NotImplementedError


async def sleep_until(loop: asyncio.AbstractEventLoop, deadline: float) -> None:
    """Sleep until ``loop.time() >= deadline`` with ~0.1 ms precision (see module doc)."""
    remaining = deadline - loop.time()
    if remaining > _SPIN_WINDOW_S:
        await asyncio.sleep(remaining - _SPIN_WINDOW_S)
        remaining = deadline - loop.time()
    else:
        await asyncio.sleep(0)  # let handlers write while we are here anyway
        remaining = deadline - loop.time()
    if remaining > 0:
        time.sleep(remaining)  # noqa: ASYNC251 - deliberate: sub-ms precision (module doc)


class ModelEngine(BaseEngine):
    """Continuous batching priced by ``PerfModel`` at the SimGpu's live clock."""

    def __init__(
        self,
        perf: PerfModel,
        scheduler: Scheduler,
        gpu: GpuLike | None = None,
        gpu_indices: Sequence[int] = (),
        request_overhead_s: float | None = None,
    ):
        super().__init__(perf.shape.vocab_size)
        self.perf = perf
        self.scheduler = scheduler
        self.gpu = gpu
        self.gpu_indices = tuple(gpu_indices)
        self.request_overhead_s = (
            perf.cal.request_overhead_s if request_overhead_s is None else request_overhead_s
        )
        self._last_load: dict[int, tuple[float, float]] = {}
        self.last_cost: IterationCost | None = None

    # --- requests -----------------------------------------------------------------
    def submit(self, sink: ResponseSink) -> None:
        # The HTTP/tokenizer path delays the request before the scheduler sees it.
        loop = asyncio.get_running_loop()
        if self.request_overhead_s > 0:
            loop.call_later(self.request_overhead_s, self._enqueue, sink)
        else:
            self._enqueue(sink)

    def _enqueue(self, sink: ResponseSink) -> None:
        for req in sink.requests:
            if not req.finished:  # aborted during the overhead delay
                self.scheduler.add(req)
        self._poke()

    def abort(self, sink: ResponseSink) -> None:
        sink.aborted = True
        for req in sink.requests:
            if not req.finished:
                self.scheduler.abort(req)
        sink._wake()

    # --- GPU ----------------------------------------------------------------------
    def memory_ratio(self) -> float:
        """The instance's memory clock over the highest (1 without a SimGpu or a GPU that
        does not model it): TP is lock-step, the slowest GPU sets the pace."""
        ratio = getattr(self.gpu, "memory_clock_ratio", None)
        if ratio is None or not self.gpu_indices:
            return 1.0
        return min(ratio(i) for i in self.gpu_indices)

    def clock_mhz(self) -> float:
        """The instance's SM clock now: TP is lock-step, so the slowest GPU sets the pace."""
        if self.gpu is None or not self.gpu_indices:
            return self.perf.gpu.boost_clock_mhz
        return min(self.gpu.effective_sm_clock_mhz(i) for i in self.gpu_indices)

    def set_load(self, compute: float, memory: float) -> bool:
        """Send the load to every GPU of the instance; False when nothing changed."""
        if self.gpu is None:
            return False
        changed = False
        for i in self.gpu_indices:
            last = self._last_load.get(i)
            if (
                last is not None
                and abs(last[0] - compute) < _LOAD_EPSILON
                and abs(last[1] - memory) < _LOAD_EPSILON
            ):
                continue
            self.gpu.set_load(i, compute, memory)
            self._last_load[i] = (compute, memory)
            changed = True
        return changed

    def idle(self) -> None:
        if self.gpu is None:
            return
        for i in self.gpu_indices:
            if self._last_load.get(i) != (0.0, 0.0):
                self.gpu.set_load(i, 0.0, 0.0)
                self._last_load[i] = (0.0, 0.0)

    def price(self, batch: Any) -> IterationCost:
        """Cost of ``batch`` at the clock the GPUs settle to under its load.

        The clock depends on the load (power-cap throttling), which depends on the cost:
        price at the current clock, apply the load, re-read the clock, re-price once.
        """
        mem = self.memory_ratio()
        cost = self.perf.batch_cost(batch, self.clock_mhz(), mem)
        if self.set_load(cost.compute_util, cost.memory_util):
            clock = self.clock_mhz()  # the cap may throttle (or release) under the new load
            if abs(clock - cost.sm_clock_mhz) >= 1.0:
                cost = self.perf.batch_cost(batch, clock, mem)
                self.set_load(cost.compute_util, cost.memory_util)
        return self._cap_within(batch, cost, mem)

    def _cap_within(self, batch: Any, cost: IterationCost, mem: float = 1.0) -> IterationCost:
        """``cost`` with the power limiter engaging part-way: SimGpu's limiter acts on
        averaged power, so a burst above the limit runs at the requested clock until the
        average reaches the limit (``SimGpu.power_cap_outlook``); the rest of the work
        runs at the capped clock (as ``greenllm.sim.offline`` does in virtual time)."""
        outlook = getattr(self.gpu, "power_cap_outlook", None)
        if outlook is None or not self.gpu_indices:
            return cost
        boost_s, capped_mhz = min(outlook(i) for i in self.gpu_indices)
        if not 0.0 < boost_s < cost.duration_s:
            return cost
        rest = self.perf.batch_cost(batch, capped_mhz, mem)
        rest_s = (1.0 - boost_s / cost.duration_s) * rest.duration_s
        duration = boost_s + rest_s
        return replace(
            cost,
            duration_s=duration,
            sm_clock_mhz=(cost.sm_clock_mhz * boost_s + capped_mhz * rest_s) / duration,
        )

    # --- the loop -----------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        sched = self.scheduler
        stats = self.stats
        vocab = self.vocab_size
        next_start = loop.time()
        try:
            while True:
                if not sched.has_work():
                    self.idle()
                    await self._idle_wait()
                    next_start = loop.time()
                    continue
                batch = sched.step()
                if not batch:  # cannot happen with has_work(); never spin hot if it does
                    await asyncio.sleep(0.001)
                    continue
                cost = self.price(batch)
                self.last_cost = cost
                now = loop.time()
                if now - next_start > _MAX_LAG_S:
                    stats.lag_resets += 1
                    next_start = now
                end = next_start + cost.duration_s
                await sleep_until(loop, end)
                next_start = end
                stats.iterations += 1
                stats.busy_s += cost.duration_s
                stats.last_clock_mhz = cost.sm_clock_mhz
                for req in batch.emitted:
                    if not req.tag.sink.aborted:
                        emit_token(req, vocab)
                stats.tokens_emitted += len(batch.emitted)
                stats.requests_finished += len(batch.finished)
        finally:
            self.idle()


class FixedLatencyEngine(BaseEngine):
    """Every request: first token ``ttft_s`` after arrival, then one every ``tbt_s``."""

    def __init__(self, vocab_size: int, ttft_s: float, tbt_s: float):
        super().__init__(vocab_size)
        self.ttft_s = ttft_s
        self.tbt_s = tbt_s
        self._heap: list[tuple[float, int, SimRequest]] = []
        self._seq = itertools.count()

    def submit(self, sink: ResponseSink) -> None:
        t0 = asyncio.get_running_loop().time()
        for req in sink.requests:
            heapq.heappush(self._heap, (t0 + self.ttft_s, next(self._seq), req))
        self._poke()

    def abort(self, sink: ResponseSink) -> None:
        sink.aborted = True
        for req in sink.requests:
            req.finished = True  # dropped lazily when its deadline comes up
        sink._wake()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        heap = self._heap
        vocab = self.vocab_size
        while True:
            if not heap:
                await self._idle_wait()
                continue
            deadline = heap[0][0]
            if deadline > loop.time():
                await sleep_until(loop, deadline)
            # Emit everything due (deadlines within 50 us count as now).
            horizon = loop.time() + 5e-5
            while heap and heap[0][0] <= horizon:
                due, _, req = heapq.heappop(heap)
                if req.finished:
                    continue
                req.generated += 1
                emit_token(req, vocab)
                self.stats.tokens_emitted += 1
                if req.generated < req.max_tokens:
                    # Absolute schedule: token k at arrival + ttft + k * tbt, no drift.
                    heapq.heappush(heap, (due + self.tbt_s, next(self._seq), req))
                else:
                    req.finished = True
                    self.stats.requests_finished += 1
            if not heap:
                await asyncio.sleep(0)


def log(msg: str) -> None:
    print(msg, file=sys.stdout, flush=True)
