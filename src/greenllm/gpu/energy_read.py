"""How often the telemetry sampler reads the energy counter, chosen from what a read costs.

``nvmlDeviceGetTotalEnergyConsumption`` is the one expensive NVML read: ~4 ms per call on
the lent H100 and 6-11 ms on the lent H200 (driver 580.159.04), against 2-44 µs for every
other read (docs/gpu.md). Read on every 20 ms tick for every GPU it would occupy the
sampler thread 20-55 % of the time per GPU and, from a few GPUs on, longer than the tick.
So the sampler times a few reads when it starts and reads the counter every tick only
while those reads stay within ``MAX_READ_SHARE`` of the sampler's time, less often
otherwise, but never less often than the counter's own update period (100 ms): reading
it more rarely than it changes would lose the timing of its updates at window edges.

The bound is the H100's measured harmless case: one GPU read every 20 ms tick (4 ms:
20 %) cost vLLM no measurable throughput (≤ 0.16-0.37 % at 95 %, docs/h100.md). On that
H100 the choice is therefore unchanged (every tick); an H200 read of 8 ms gives 40 ms.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from greenllm.gpu.base import Gpu

MAX_READ_SHARE = 0.2  # energy reads' share of the sampler thread's time (all GPUs)
MAX_ENERGY_PERIOD_S = 0.1  # the counter's update period on H100/H200: never read rarer
PROBE_READS = 5  # timed reads with and without the counter (median of each)


@dataclass(frozen=True)
class EnergyReadPlan:
    """The measured read cost and the period chosen from it (``summary.json``'s record)."""

    read_s: float  # one energy-counter read on one GPU, wall time (median of PROBE_READS)
    n_gpus: int
    tick_s: float  # the sampler's period
    energy_period_s: float  # chosen: 0 = every tick
    read_share: float  # expected share of the sampler's time spent reading the counter
    max_read_share: float  # the bound the period was chosen for

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_read_s(gpu: Gpu, index: int, reads: int = PROBE_READS) -> float:
    """Wall time of one energy-counter read: a full sample with the counter minus one
    without it (medians over ``reads`` interleaved pairs; never below 0)."""
    with_counter, without = [], []
    for _ in range(reads):
        t0 = time.perf_counter()
        gpu.sample(index, energy=True)
        t1 = time.perf_counter()
        gpu.sample(index, energy=False)
        with_counter.append(t1 - t0)
        without.append(time.perf_counter() - t1)
    return max(0.0, statistics.median(with_counter) - statistics.median(without))


def choose_energy_period_s(read_s: float, n_gpus: int, tick_s: float, *,
                           max_share: float = MAX_READ_SHARE,
                           max_period_s: float = MAX_ENERGY_PERIOD_S) -> float:
    """The shortest read period (0: every tick) whose reads of all ``n_gpus`` counters
    stay within ``max_share`` of the time, but at most ``max_period_s``."""
    needed = n_gpus * read_s / max_share
    if needed <= tick_s:
        return 0.0
    return min(needed, max_period_s)


def plan_energy_reads(gpu: Gpu, indices: Sequence[int], tick_s: float) -> EnergyReadPlan:
    """Time the counter read on the first GPU (all GPUs of an instance are one kind) and
    choose the period for all of them."""
    read_s = measure_read_s(gpu, indices[0]) if indices else 0.0
    period = choose_energy_period_s(read_s, len(indices), tick_s)
    share = len(indices) * read_s / max(period, tick_s) if indices else 0.0
    return EnergyReadPlan(read_s=read_s, n_gpus=len(indices), tick_s=tick_s,
                          energy_period_s=period, read_share=share,
                          max_read_share=MAX_READ_SHARE)


def describe(plan: EnergyReadPlan) -> str:
    """One line for the log."""
    every = ("every tick" if plan.energy_period_s == 0
             else f"every {plan.energy_period_s * 1000:.0f} ms")
    over = (" (above the bound: the counter is never read rarer than it updates)"
            if plan.read_share > plan.max_read_share + 1e-9 else "")
    return (f"energy counter read: {plan.read_s * 1000:.2f} ms per GPU x {plan.n_gpus}; "
            f"read {every}, {plan.read_share:.0%} of the sampler's time{over}")


__all__ = ["EnergyReadPlan", "MAX_ENERGY_PERIOD_S", "MAX_READ_SHARE", "choose_energy_period_s",
           "describe", "measure_read_s", "plan_energy_reads"]
