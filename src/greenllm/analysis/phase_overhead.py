"""What a background activity costs an engine's throughput, by alternating phases.

Whole-run A/B comparisons of saturated throughput are too coarse for a 0.5 % effect:
on the H100, runs of 400 requests to a 1.1B model differed by up to 30 % from one to the
next (ramp-up, drain and the API server's CPU share all vary). Here the activity (e.g.
greenllm's telemetry sampler) is switched off and on in short alternating phases inside
one long saturated run, and tokens delivered per second are compared between adjacent
phases: slow drift cancels within each off/on pair, and only phases inside the steady
window (every batch slot busy: after the first tokens, before the queue empties) count.

Each on phase is compared with the mean of the off phases either side of it, so a drift
that is linear over three phases cancels (a plain off-then-on pairing would read a
steady 1 %-per-phase slowdown of the engine as a 1 % overhead).

The work done in a phase is counted either from the tokens' arrival times at the client
(``phase_rates``) or from the engine's own counter read at every phase boundary
(``counted_rates``: vLLM's ``generation_tokens_total``, independent of how fast the
client reads). Both are pure computations, tested on synthetic streams;
``benchmarks/sampler_vllm_overhead.py`` runs them against a live server.
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
    count: float | None = None  # work the engine counted in the phase (counter delta)


@dataclass
class PhaseOverhead:
    """Work rates with the activity off and on, over the phases of the steady window."""

    n_pairs: int  # on phases compared with both their neighbouring off phases
    rate_off_tok_s: float  # tokens / s over all counted off phases
    rate_on_tok_s: float
    ratio: float  # median over on phases of rate_on / mean(rate of the off phases around it)
    ratio_ci: tuple[float, float]  # 95 % bootstrap over those ratios
    overhead: float  # 1 - ratio: the throughput the activity costs (negative: none seen)
    window: tuple[float, float]
    pair_ratios: list[float]
    cv_phase: float  # coefficient of variation of the off phases' rates (the noise floor)
    # Every phase at once: log rate ~ on/off + quadratic drift; the on effect and its
    # standard error (nan with too few phases). Uses the off phases at the ends too.
    regression_effect: float = math.nan
    regression_se: float = math.nan

    def to_dict(self) -> dict[str, float]:
        return {"pairs": float(self.n_pairs), "rate_off_tok_s": self.rate_off_tok_s,
                "rate_on_tok_s": self.rate_on_tok_s, "ratio_on_off": self.ratio,
                "ratio_ci_low": self.ratio_ci[0], "ratio_ci_high": self.ratio_ci[1],
                "overhead": self.overhead, "window_s": self.window[1] - self.window[0],
                "cv_phase": self.cv_phase, "regression_effect": self.regression_effect,
                "regression_se": self.regression_se}


def steady_window(first_token_s: Sequence[float], *, settle_s: float = 1.0) -> tuple[float, float]:
    """The saturated stretch of a run whose requests were all queued at its start: from
    ``settle_s`` after the first token until the last request got its first token (then
    the queue is empty and the batch drains)."""
    t = np.asarray([x for x in first_token_s if math.isfinite(x)], dtype=float)
    if len(t) < 2:
        raise GreenllmError("need at least two requests with a first token")
    return float(t.min() + settle_s), float(t.max())


def _inside(phases: Sequence[Phase], window: tuple[float, float]) -> list[Phase]:
    lo, hi = window
    return [p for p in phases if p.t0 >= lo and p.t1 <= hi and p.t1 > p.t0]


def phase_rates(token_times_s: Sequence[float], phases: Sequence[Phase],
                window: tuple[float, float]) -> PhaseOverhead:
    """Tokens per second (by arrival time at the client) in each phase wholly inside
    ``window``, compared as ``compare_phases`` does."""
    times = np.sort(np.asarray(token_times_s, dtype=float))
    rates = [(p, (np.searchsorted(times, p.t1) - np.searchsorted(times, p.t0)) / (p.t1 - p.t0))
             for p in _inside(phases, window)]
    return compare_phases(rates, window)


def counted_rates(phases: Sequence[Phase], window: tuple[float, float]) -> PhaseOverhead:
    """Rates from each phase's own ``count`` (an engine counter's delta over the phase)."""
    inside = _inside(phases, window)
    if any(p.count is None for p in inside):
        raise GreenllmError("a phase inside the window has no counted work")
    return compare_phases([(p, float(p.count) / (p.t1 - p.t0)) for p in inside], window)


def compare_phases(rates: Sequence[tuple[Phase, float]],
                   window: tuple[float, float]) -> PhaseOverhead:
    """Each on phase against the mean of the off phases right before and after it."""
    ratios = []
    for (a, ra), (b, rb), (c, rc) in zip(rates, rates[1:], rates[2:], strict=False):
        if not a.on and b.on and not c.on and ra + rc > 0:
            ratios.append(rb / (0.5 * (ra + rc)))
    if len(ratios) < 2:
        lo, hi = window
        raise GreenllmError(
            f"only {len(ratios)} on phases with an off phase either side inside the steady "
            f"window ({hi - lo:.1f} s): run longer or use shorter phases")
    off = [(p, r) for p, r in rates if not p.on]
    on = [(p, r) for p, r in rates if p.on]
    off_rate = sum(r * (p.t1 - p.t0) for p, r in off) / sum(p.t1 - p.t0 for p, _ in off)
    on_rate = sum(r * (p.t1 - p.t0) for p, r in on) / sum(p.t1 - p.t0 for p, _ in on)
    off_rates = np.array([r for _, r in off])
    cv = float(off_rates.std(ddof=1) / off_rates.mean()) if len(off_rates) > 1 and \
        off_rates.mean() > 0 else math.nan
    arr = np.array(ratios)
    ci = median_ci(arr)
    median = float(np.median(arr))
    effect, se = drift_regression(rates)
    return PhaseOverhead(n_pairs=len(arr), rate_off_tok_s=off_rate, rate_on_tok_s=on_rate,
                         ratio=median, ratio_ci=(float(ci[0]), float(ci[1])),
                         overhead=1.0 - median, window=window,
                         pair_ratios=[float(r) for r in arr], cv_phase=cv,
                         regression_effect=effect, regression_se=se)


def drift_regression(rates: Sequence[tuple[Phase, float]]) -> tuple[float, float]:
    """(effect, standard error): least squares of ``log rate`` on an on/off indicator plus
    a quadratic in time. ``effect`` is the on phases' relative change (-0.01: 1 % slower).
    A second, parametric view of the same phases: it uses every phase, and the drift
    model absorbs slow changes that neighbour averaging only cancels when linear."""
    usable = [(p, r) for p, r in rates if r > 0]
    if len(usable) < 6 or len({p.on for p, _ in usable}) < 2:
        return math.nan, math.nan
    t = np.array([(p.t0 + p.t1) / 2 for p, _ in usable])
    span = max(float(t.max() - t.min()), 1e-9)
    x = (t - t.mean()) / span
    design = np.column_stack([[float(p.on) for p, _ in usable], np.ones_like(x), x, x * x])
    y = np.log([r for _, r in usable])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ beta
    dof = len(y) - design.shape[1]
    cov = (resid @ resid / dof) * np.linalg.pinv(design.T @ design)
    return float(math.expm1(beta[0])), float(math.sqrt(max(cov[0, 0], 0.0)))


@dataclass
class PooledOverhead:
    """Several runs' phase comparisons together (runs on different cards pool: every
    comparison is within its own run)."""

    n_runs: int
    n_pairs: int
    ratio: float  # median of every run's on/off ratios
    ratio_ci: tuple[float, float]
    effect: float  # inverse-variance mean of the runs' drift-regression effects
    effect_se: float

    @property
    def overhead_upper(self) -> float:
        """The 95 % upper bound on the overhead from the pooled regression."""
        return -(self.effect - 1.96 * self.effect_se)

    def to_dict(self) -> dict[str, float]:
        return {"runs": float(self.n_runs), "pairs": float(self.n_pairs),
                "ratio_on_off": self.ratio, "ratio_ci_low": self.ratio_ci[0],
                "ratio_ci_high": self.ratio_ci[1], "regression_effect": self.effect,
                "regression_se": self.effect_se, "overhead_upper": self.overhead_upper}


def pool(results: Sequence[PhaseOverhead]) -> PooledOverhead:
    if not results:
        raise GreenllmError("nothing to pool: no runs")
    ratios = np.array([r for res in results for r in res.pair_ratios])
    ci = median_ci(ratios)
    usable = [(r.regression_effect, r.regression_se) for r in results
              if math.isfinite(r.regression_se) and r.regression_se > 0]
    if usable:
        w = np.array([1.0 / se ** 2 for _, se in usable])
        effect = float(np.sum(w * np.array([e for e, _ in usable])) / w.sum())
        se = float(math.sqrt(1.0 / w.sum()))
    else:
        effect = se = math.nan
    return PooledOverhead(n_runs=len(results), n_pairs=len(ratios),
                          ratio=float(np.median(ratios)), ratio_ci=(float(ci[0]), float(ci[1])),
                          effect=effect, effect_se=se)
