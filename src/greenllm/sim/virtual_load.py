"""Load points and max-throughput searches against the simulator, in virtual time.

What ``greenllm measure`` does against a server (send a workload at a rate, reduce the
requests and the energy of the steady window; find the highest rate that meets an SLO),
done on ``greenllm.sim.offline.simulate_load`` instead: no server, no sleeping, exactly
reproducible. Used by the calibration check against real measurements
(``greenllm.calibrate.calibration_check``) and by the simulated clock sweep
(``greenllm.calibrate.clock_sweep``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from greenllm.gpu.sim import SimGpuSpec
from greenllm.load.arrivals import arrival_offsets_s
from greenllm.measure.points import n_requests as request_count
from greenllm.search.slo import MIN_ACHIEVED_FRACTION
from greenllm.sim.offline import OfflineResult, simulate_load
from greenllm.sim.perf_model import PerfModel

SEARCH_REL_TOL = 0.03  # the bisection stops when hi / lo < 1 + tol
SEARCH_MAX_PROBES = 14


@dataclass(frozen=True)
class VirtualInstance:
    """One engine instance (model x TP x max batch) on simulated GPUs at a clock."""

    perf: PerfModel
    max_num_seqs: int
    max_num_batched_tokens: int = 8192
    clock_mhz: float | None = None  # locked SM clock; None: boost when busy, idle clock
    gpu_spec: SimGpuSpec = field(default_factory=SimGpuSpec.h100_sxm)

    def run(self, input_tokens: int, output_tokens: int, arrivals_s: np.ndarray) -> OfflineResult:
        return simulate_load(
            self.perf,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            rate_rps=1.0,  # unused: the arrivals are given
            n_requests=len(arrivals_s),
            max_num_seqs=self.max_num_seqs,
            max_num_batched_tokens=self.max_num_batched_tokens,
            locked_clock_mhz=self.clock_mhz,
            gpu_spec=self.gpu_spec,
            arrivals_s=arrivals_s,
        )


@dataclass(frozen=True)
class Arrivals:
    """An arrival process as ``greenllm measure`` draws it (``greenllm.load.arrivals``)."""

    process: str = "poisson"
    cv: float = 1.0
    exact_rate: bool = False  # load.exact_rate: gaps rescaled to the nominal rate

    def offsets(self, rate_rps: float, n: int, seed: int) -> np.ndarray:
        return arrival_offsets_s(self.process, rate_rps, n, seed, cv=self.cv,
                                 normalize=self.exact_rate)


@dataclass(frozen=True)
class ProbeSizing:
    """How many requests a probe sends (``greenllm.measure.points.n_requests``)."""

    requests: int
    min_duration_s: float
    max_duration_s: float

    def count(self, rate_rps: float) -> int:
        return request_count(rate_rps, self.requests, self.min_duration_s, self.max_duration_s)


@dataclass(frozen=True)
class SloSpec:
    ttft_s: float
    tbt_s: float
    percentile: float = 90.0


def point_metrics(res: OfflineResult, output_tokens: int,
                  ramp_fraction: float = 0.1) -> dict[str, float | None]:
    """Reduce one simulated run like ``greenllm measure`` reduces a load point.

    Latencies over every request (TBT: every inter-token gap, TPOT: per request);
    energy over the steady window from the send after the first ``ramp_fraction`` of
    sends to the last send, all GPUs summed; tokens counted when they reach the client.
    """
    arrivals = np.asarray(res.arrivals_s)
    first = np.asarray(res.first_token_s)
    last = np.asarray(res.last_token_s)
    out: dict[str, float | None] = {
        "ttft_p50_s": float(np.percentile(first - arrivals, 50)),
        "tbt_p50_s": float(np.percentile(res.itl_s, 50)) if res.itl_s else None,
        "tpot_p50_s": (float(np.percentile((last - first) / (output_tokens - 1), 50))
                       if output_tokens > 1 else None),
        "power_mean_w": None,
        "power_max_w": None,
        "j_per_token": None,
        "j_per_request": None,
    }
    sends = np.sort(arrivals)
    t0 = float(sends[min(len(sends) - 1, int(len(sends) * ramp_fraction))])
    t1 = float(sends[-1])
    if t1 <= t0:
        return out
    t = np.concatenate(([0.0], res.trace_t_s))
    e = np.concatenate(([0.0], res.trace_energy_j))
    energy_j = float(np.interp(t1, t, e) - np.interp(t0, t, e))
    td = np.concatenate(([0.0], res.delivery_t_s))
    tok = np.concatenate(([0], res.delivery_tokens))
    tokens = int(tok[np.searchsorted(td, t1, side="right") - 1]
                 - tok[np.searchsorted(td, t0, side="left") - 1])
    # power of each segment (iteration or idle gap) that overlaps the window
    dt = np.diff(t)
    seg_w = np.divide(np.diff(e), dt, out=np.zeros_like(dt), where=dt > 0)
    inside = (t[1:] > t0) & (t[:-1] < t1) & (dt > 0)
    sent = int(np.count_nonzero((sends >= t0) & (sends < t1)))
    out["power_mean_w"] = energy_j / (t1 - t0)
    out["power_max_w"] = float(seg_w[inside].max()) if inside.any() else None
    out["j_per_token"] = energy_j / tokens if tokens else None
    out["j_per_request"] = energy_j / sent if sent else None
    return out


def requests_alone(inst: VirtualInstance, input_tokens: int, output_tokens: int,
                   n: int = 5, gap_s: float = 60.0) -> OfflineResult:
    """``n`` requests sent one at a time (``gap_s`` apart): the SLO baseline's setting."""
    return inst.run(input_tokens, output_tokens, np.arange(n, dtype=float) * gap_s)


def start_rate_rps(inst: VirtualInstance, alone: OfflineResult) -> float:
    """``greenllm.measure.cell.start_rate``: half of what a full batch at the alone e2e
    latency would serve (usually above capacity: the search then halves)."""
    e2e = float(np.median(np.asarray(alone.last_token_s) - np.asarray(alone.arrivals_s)))
    return 0.5 * inst.max_num_seqs / max(e2e, 1e-3)


def meets_slo(res: OfflineResult, slo: SloSpec) -> bool:
    """``greenllm.search.slo_verdict`` on a simulated run: TTFT and TBT at the SLO's
    percentile within bounds, and responses at >= 90 % of the offered rate."""
    arrivals = np.asarray(res.arrivals_s)
    ttft = np.asarray(res.first_token_s) - arrivals
    if float(np.percentile(ttft, slo.percentile)) > slo.ttft_s:
        return False
    if res.itl_s and float(np.percentile(res.itl_s, slo.percentile)) > slo.tbt_s:
        return False
    n = len(arrivals)
    ends = np.sort(np.asarray(res.last_token_s))
    sched_span = float(arrivals[-1] - arrivals[0])
    end_span = float(ends[-1] - ends[0])
    if n >= 2 and sched_span > 0 and end_span > 0:
        offered, achieved = (n - 1) / sched_span, (n - 1) / end_span
        if achieved / offered < MIN_ACHIEVED_FRACTION:
            return False
    return True


def max_rate_under_slo(
    inst: VirtualInstance,
    input_tokens: int,
    output_tokens: int,
    slo: SloSpec,
    sizing: ProbeSizing,
    *,
    start_rps: float,
    seed: int = 1,
    arrivals: Arrivals = Arrivals(),  # noqa: B008 - frozen
) -> tuple[float | None, int]:
    """(highest rate meeting the SLO to within SEARCH_REL_TOL, probes used).

    Doubling/halving from ``start_rps`` until bracketed, then geometric bisection. Every
    probe uses the same seed (common random numbers), so the verdict is a nearly
    monotone function of the rate and the bisection does not chase noise. None when
    even the lowest rate tried misses the SLO.
    """
    probes = 0

    def ok(rate: float) -> bool:
        nonlocal probes
        probes += 1
        offsets = arrivals.offsets(rate, sizing.count(rate), seed)
        return meets_slo(inst.run(input_tokens, output_tokens, offsets), slo)

    return _bisect(ok, start_rps, lambda: probes)


def _bisect(ok: Callable[[float], bool], start: float,
            used: Callable[[], int]) -> tuple[float | None, int]:
    lo: float | None = None
    hi: float | None = None
    rate = start
    while used() < SEARCH_MAX_PROBES and (lo is None or hi is None):
        if ok(rate):
            lo, rate = rate, rate * 2.0
        else:
            hi, rate = rate, rate / 2.0
    if lo is None or hi is None:
        return lo, used()
    while used() < SEARCH_MAX_PROBES and hi / lo > 1.0 + SEARCH_REL_TOL:
        mid = math.sqrt(lo * hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo, used()
