"""One load point: send a workload at a rate, and measure latency and energy together.

The telemetry sampler runs for the whole cell; a point only marks its window. The
energy window is the steady part of the arrivals: it starts after the first
``ramp_fraction`` of sends (the batch is still filling) and ends at the last send
(after which the server drains and the load is no longer the offered one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenllm.engine.base import Engine, Sampler
from greenllm.gpu import clock_stats, throttle_names, window_energy
from greenllm.load import Workload, arrival_offsets_s, summarize
from greenllm.measure.energy_phases import phase_energy
from greenllm.measure.multi_gpu import per_gpu_fields
from greenllm.search import Slo


@dataclass(frozen=True)
class PointSettings:
    arrival: str
    cv: float
    timeout_s: float
    ramp_fraction: float
    seed: int
    # True: the drawn gaps are rescaled so every schedule sends at exactly its nominal
    # rate (as vllm bench serve does); False keeps the process as drawn (load.exact_rate)
    exact_rate: bool = False


@dataclass
class PointResult:
    tag: str  # e.g. "probe3" or "medium"
    rate_rps: float
    frame: pd.DataFrame  # one row per request
    metrics: dict[str, Any]
    window: tuple[float, float]  # monotonic seconds
    energy: dict[str, Any] = field(default_factory=dict)
    sm_clock_mhz: dict[str, Any] = field(default_factory=dict)
    throttle_reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


def n_requests(rate_rps: float, count: int, min_duration_s: float, max_duration_s: float) -> int:
    """Enough requests for both a count and a duration, capped by a maximum duration."""
    n = max(count, math.ceil(rate_rps * min_duration_s))
    return max(2, min(n, math.ceil(rate_rps * max_duration_s)))


def run_point(settings: PointSettings, engine: Engine, workload: Workload, rate_rps: float,
              n: int, *, tag: str, slo: Slo | None, sampler: Sampler | None,
              seed_offset: int = 0) -> PointResult:
    """Send ``n`` requests at ``rate_rps`` and summarise them (and their energy)."""
    offsets = arrival_offsets_s(settings.arrival, rate_rps, n, settings.seed + seed_offset,
                                cv=settings.cv, normalize=settings.exact_rate)
    engine.check_alive()
    frame = engine.send(workload, offsets, seed=settings.seed + seed_offset,
                        timeout_s=settings.timeout_s)
    engine.check_alive()
    frame.insert(0, "point", tag)
    # offered_rps is left to the metrics: the rate of the actual (random) schedule, not the
    # nominal one, so a short Poisson sample is not judged "not sustained" by chance.
    metrics = summarize(frame, slo=slo)
    window = steady_window(frame, settings.ramp_fraction)
    result = PointResult(tag=tag, rate_rps=rate_rps, frame=frame, metrics=metrics, window=window)
    if sampler is not None:
        attach_energy(result, sampler.frame())
    return result


def steady_window(frame: pd.DataFrame, ramp_fraction: float) -> tuple[float, float]:
    sends = np.sort(frame["send_s"].to_numpy(dtype=float))
    sends = sends[np.isfinite(sends)]
    if len(sends) < 2:
        return 0.0, 0.0
    first = sends[min(len(sends) - 1, int(len(sends) * ramp_fraction))]
    return float(first), float(sends[-1])


def tokens_in_window(frame: pd.DataFrame, t0: float, t1: float) -> int:
    """Output tokens whose arrival falls inside [t0, t1] (every token's time is recorded)."""
    total = 0
    for times in frame["token_times_s"]:
        if times is None or len(times) == 0:
            continue
        arr = np.asarray(times, dtype=float)
        total += int(np.count_nonzero((arr >= t0) & (arr <= t1)))
    return total


def attach_energy(result: PointResult, telemetry: pd.DataFrame) -> None:
    t0, t1 = result.window
    if telemetry.empty or t1 <= t0:
        result.flags.append("no_energy_window")
        return
    we = window_energy(telemetry, t0, t1)
    sends = result.frame["send_s"].to_numpy(dtype=float)
    sent_in_window = int(np.count_nonzero((sends >= t0) & (sends < t1)))
    tokens = tokens_in_window(result.frame, t0, t1)
    result.energy = {
        "window_s": we.window_s,
        # the window on the telemetry's clock (t_mono of telemetry.rN.parquet), so the
        # energy can be recomputed from the saved samples (benchmarks/energy_crosscheck.py)
        "t0_mono": t0,
        "t1_mono": t1,
        "energy_j": we.energy_j,
        "energy_integral_j": we.energy_integral_j,
        "disagreement": we.disagreement,
        "integral_noise": we.integral_noise,  # the cross-check's own 1-sigma sampling error
        # Energy for the same work: per request arriving in the window (steady state:
        # what the GPUs spend per second divided by requests per second) and per token.
        "energy_per_request_j": we.energy_j / sent_in_window if sent_in_window else None,
        "energy_per_output_token_j": we.energy_j / tokens if tokens else None,
        "power_mean_w": we.power_mean_w,
        "power_max_w": we.power_max_w,
        # seconds and joules of idle / prefill / decode instants (measure.energy_phases)
        "phases": phase_energy(telemetry, result.frame, t0, t1),
        **per_gpu_fields(we.per_gpu_energy_j),  # every GPU of the instance, and their spread
    }
    result.flags.extend(f for f in we.flags if f not in result.flags)
    result.sm_clock_mhz = clock_stats(telemetry, t0, t1)
    result.throttle_reasons = throttle_names(telemetry, t0, t1)
