"""What a background activity costs an engine's throughput, by alternating phases.

Whole-run A/B comparisons of saturated throughput are too coarse for a 0.5 % effect:
on the H100, runs of 400 requests to a 1.1B model differed by up to 30 % from one to the
next (ramp-up, drain and the API server's CPU share all vary). Here the activity (e.g.
greenllm's telemetry sampler) is switched off and on in short alternating phases inside
one long saturated run, and tokens delivered per second are compared between adjacent
phases: slow drift cancels within each off/on pair, and only phases inside the steady
window (every batch slot busy: after the first tokens, before the queue empties) count.

``phase_rates`` is the pure computation (tested on synthetic token streams);
``benchmarks/sampler_vllm_overhead.py`` runs it against a live server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from greenllm.analysis.uncertainty import median_ci
from greenllm.errors import GreenllmError


@dataclass(frozen=True)
class Phase:
    t0: float  # time.monotonic() s
    t1: float
    on: bool


@dataclass
class PhaseOverhead:
    """Token rates with the activity off and on, over the phases of the steady window."""

    n_pairs: int  # adjacent off/on pairs inside the window
    rate_off_tok_s: float  # tokens / s over all counted off phases
    rate_on_tok_s: float
    ratio: float  # median over pairs of rate_on / rate_off
    ratio_ci: tuple[float, float]  # 95 % bootstrap over pairs
    overhead: float  # 1 - ratio: the throughput the activity costs (negative: none seen)
    window: tuple[float, float]
    pair_ratios: list[float]

    def to_dict(self) -> dict[str, float]:
        return {"pairs": float(self.n_pairs), "rate_off_tok_s": self.rate_off_tok_s,
                "rate_on_tok_s": self.rate_on_tok_s, "ratio_on_off": self.ratio,
                "ratio_ci_low": self.ratio_ci[0], "ratio_ci_high": self.ratio_ci[1],
                "overhead": self.overhead, "window_s": self.window[1] - self.window[0]}


def steady_window(first_token_s: Sequence[float], *, settle_s: float = 1.0) -> tuple[float, float]:
    """The saturated stretch of a run whose requests were all queued at its start: from
    ``settle_s`` after the first token until the last request got its first token (then
    the queue is empty and the batch drains)."""
    t = np.asarray([x for x in first_token_s if math.isfinite(x)], dtype=float)
    if len(t) < 2:
        raise GreenllmError("need at least two requests with a first token")
    return float(t.min() + settle_s), float(t.max())


def phase_rates(token_times_s: Sequence[float], phases: Sequence[Phase],
                window: tuple[float, float]) -> PhaseOverhead:
    """Tokens per second in each phase wholly inside ``window``; pairs each off phase with
    the on phase right after it (phases alternate)."""
    times = np.sort(np.asarray(token_times_s, dtype=float))
    lo, hi = window
    inside = [p for p in phases if p.t0 >= lo and p.t1 <= hi and p.t1 > p.t0]
    rates = [(p, (np.searchsorted(times, p.t1) - np.searchsorted(times, p.t0)) / (p.t1 - p.t0))
             for p in inside]
    pairs = [(a[1], b[1]) for a, b in zip(rates, rates[1:], strict=False)
             if not a[0].on and b[0].on and a[1] > 0]
    if len(pairs) < 2:
        raise GreenllmError(
            f"only {len(pairs)} off/on phase pairs inside the steady window "
            f"({hi - lo:.1f} s): send more requests or use shorter phases")
    ratios = np.array([on / off for off, on in pairs])
    off_t = sum(p.t1 - p.t0 for p, _ in rates if not p.on)
    on_t = sum(p.t1 - p.t0 for p, _ in rates if p.on)
    off_rate = sum(r * (p.t1 - p.t0) for p, r in rates if not p.on) / off_t
    on_rate = sum(r * (p.t1 - p.t0) for p, r in rates if p.on) / on_t
    ci = median_ci(ratios)
    median = float(np.median(ratios))
    return PhaseOverhead(n_pairs=len(pairs), rate_off_tok_s=off_rate, rate_on_tok_s=on_rate,
                         ratio=median, ratio_ci=(float(ci[0]), float(ci[1])),
                         overhead=1.0 - median, window=(lo, hi),
                         pair_ratios=[float(r) for r in ratios])
