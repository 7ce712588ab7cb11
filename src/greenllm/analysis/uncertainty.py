"""Uncertainty of repeated measurements: median, percentile-bootstrap CI and CV.

What is resampled: **repeats** (whole runs of a load point), not the requests inside a run.
The requests of one run share one batch, one queue and one stretch of GPU/host state, so
they are correlated: resampling them treats a 300-request run as 300 independent
observations and gives intervals far too narrow. What makes two identical runs on the H100
differ (TTFT p50 47 ms, then 97 ms) is run-level drift, and only repeats sample it.

Method: percentile bootstrap of the median over repeats, 95 %, ``N_BOOT`` resamples from a
fixed seed (re-running gives the same interval). With few repeats the percentile
bootstrap of the median is coarse: its interval is built from order statistics of the
repeats. For n = 5 it is exactly [min, max] of the repeats, which covers the true median
with probability 1 − 2·0.5⁵ = 93.75 %; for n = 3 it is also [min, max], covering only
75 % (88 % at n = 4). So below ``FULL_COVERAGE_REPEATS`` (5) the interval is widened to
hold the median ± a Student t half-width as well (t(n−1)·s/√n): adaptive repeats stop
points at 3-4 repeats exactly when their values happen to agree, and the bootstrap's
range alone then reported "95 %" intervals that covered 79-90 % (benchmarks/
stopping_coverage.py); widened, they cover about 95 %. Above 5 the bootstrap's coverage
swings with n (87 % at 7, 89 % at 9, 91 % at 13-14, 95 % at 10 and 16, for normal and
lognormal noise alike: its endpoints fall on or between order statistics), so from 6 on
it is widened the same way (96-97 %). Only n = 5 keeps the bootstrap alone: it is exactly
[min, max] there, with the distribution-free 93.75 %, and the paper's (and every
committed reference set's) intervals rest on it. Below ``MIN_REPEATS_FOR_CI`` (3)
no interval is given at all (None / NaN): two numbers say nothing about a 95 % range.
Use n ≥ 5 where a claim must be decided.

Effects built from several cells (a ratio, a relative drop) are bootstrapped jointly:
each operand's repeats are resampled independently (the cells were measured separately)
and the effect is recomputed per resample (``bootstrap_effect``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

CI_LEVEL = 0.95
N_BOOT = 2000
MIN_REPEATS_FOR_CI = 3
# At 5 repeats the bootstrap interval is [min, max] and holds the median 93.75 % of the
# time whatever the noise; at 3-4 only 75 % / 88 %, and above 5 between 87 and 95 %
# depending on n, so at every other n it is widened by a t interval (module doc).
FULL_COVERAGE_REPEATS = 5
# Student t 97.5 % quantiles by degrees of freedom 1..12 (t_quantile computes the others)
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179)
DEFAULT_CV_FLAG = 0.15  # coefficient of variation above which a cell is flagged
DEFAULT_SEED = 20240607
MAX_CORNER_OPERANDS = 16  # interval arithmetic evaluates 2^k corners
_CHUNK_ELEMENTS = 4_000_000  # bootstrap matrices are built in chunks of about this size

EffectFn = Callable[[np.ndarray], np.ndarray]  # (B, k) operand values -> (B,) effects


@dataclass(frozen=True)
class RepeatStats:
    """Median over repeats, its CI (NaN when n < MIN_REPEATS_FOR_CI) and the CV."""

    median: float
    ci_lo: float
    ci_hi: float
    cv: float  # sample std (ddof=1) / |mean|; NaN for n < 2
    n: int

    @property
    def has_ci(self) -> bool:
        return math.isfinite(self.ci_lo) and math.isfinite(self.ci_hi)


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def _tails(level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"CI level must be in (0, 1), got {level!r}")
    alpha = 100 * (1 - level) / 2
    return alpha, 100 - alpha


def _median_positions(n: int, n_boot: int, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """For each bootstrap resample of n sorted values: the two positions whose mean is the
    resample's median (the same position twice for odd n).

    Resampling n values with replacement and sorting the drawn *positions* gives the
    resample's order statistics, because the values are sorted: so one draw of positions
    serves every metric and every cell with n finite repeats.
    """
    idx = np.sort(rng.integers(0, n, size=(n_boot, n)), axis=1)
    return idx[:, (n - 1) // 2], idx[:, n // 2]


def _rng(seed: int, n: int) -> np.random.Generator:
    """One stream per (seed, n): a cell's interval does not depend on its neighbours."""
    return np.random.default_rng([seed, n])


def bootstrap_medians(values: Sequence[float] | np.ndarray, *, n_boot: int = N_BOOT,
                      rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` medians of resamples (with replacement) of the finite ``values``."""
    arr = np.sort(_finite(values))
    if arr.size == 0:
        return np.full(n_boot, np.nan)
    lo, hi = _median_positions(arr.size, n_boot, rng)
    return 0.5 * (arr[lo] + arr[hi])


@functools.lru_cache(maxsize=256)
def t_quantile(level: float, df: int) -> float:
    """Two-sided Student t quantile: P(|T| <= q) = ``level`` for ``df`` degrees of freedom.

    The 95 % table (``T975``, exact to 3 decimals) where it applies; otherwise the t
    density integrated numerically and inverted by bisection (numpy only, no scipy)."""
    _tails(level)
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df!r}")
    if level == CI_LEVEL and df <= len(T975):
        return T975[df - 1]
    norm = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def central(q: float) -> float:  # P(|T| <= q), Simpson's rule on [0, q]
        x = np.linspace(0.0, q, 4001)
        f = norm * (1 + x * x / df) ** (-(df + 1) / 2)
        h = q / 4000
        return float(2 * h / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum()))

    lo, hi = 0.0, 1.0
    while central(hi) < level:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if central(mid) < level else (lo, mid)
    return 0.5 * (lo + hi)


def widened_at(n: int) -> bool:
    """Whether the reported interval of n repeats holds a t interval as well as the
    bootstrap's (every n with an interval but FULL_COVERAGE_REPEATS; module doc)."""
    return n >= MIN_REPEATS_FOR_CI and n != FULL_COVERAGE_REPEATS


def _widen(lo: np.ndarray, hi: np.ndarray, median: np.ndarray, std: np.ndarray,
           n: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap interval, widened to hold the median ± t(n-1)·s/√n too where
    ``widened_at(n)`` (module doc: at 3-4 the bootstrap alone is about the repeats'
    range; above 5 its coverage swings with n)."""
    if not widened_at(n):
        return lo, hi
    half = t_quantile(level, n - 1) * std / math.sqrt(n)
    return np.minimum(lo, median - half), np.maximum(hi, median + half)


def bootstrap_median_ci(values: Sequence[float] | np.ndarray, *, level: float = CI_LEVEL,
                        n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """The percentile-bootstrap CI of the median alone (no widening); (nan, nan) with
    fewer than 3 finite values. ``median_ci`` is what tables report."""
    arr = _finite(values)
    if arr.size < MIN_REPEATS_FOR_CI:
        return math.nan, math.nan
    boot = bootstrap_medians(arr, n_boot=n_boot, rng=_rng(seed, arr.size))
    lo, hi = np.percentile(boot, _tails(level))
    return float(lo), float(hi)


def median_ci(values: Sequence[float] | np.ndarray, *, level: float = CI_LEVEL,
              n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile-bootstrap CI of the median, widened by a t interval at every count of
    values but 5 (module doc); (nan, nan) with fewer than 3 finite values."""
    arr = _finite(values)
    lo, hi = bootstrap_median_ci(arr, level=level, n_boot=n_boot, seed=seed)
    if not math.isfinite(lo):
        return lo, hi
    lo, hi = _widen(np.asarray(lo), np.asarray(hi), np.asarray(np.median(arr)),
                    np.asarray(arr.std(ddof=1)), arr.size, level)
    return float(lo), float(hi)


def coefficient_of_variation(values: Sequence[float] | np.ndarray) -> float:
    """Sample standard deviation (ddof=1) over |mean|; NaN with < 2 values or mean 0."""
    arr = _finite(values)
    if arr.size < 2:
        return math.nan
    mean = float(arr.mean())
    return float(arr.std(ddof=1) / abs(mean)) if mean != 0 else math.nan


def repeat_stats(values: Sequence[float] | np.ndarray, *, level: float = CI_LEVEL,
                 n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> RepeatStats:
    arr = _finite(values)
    median = float(np.median(arr)) if arr.size else math.nan
    lo, hi = median_ci(arr, level=level, n_boot=n_boot, seed=seed)
    return RepeatStats(median, lo, hi, coefficient_of_variation(arr), int(arr.size))


def median_ci_matrix(values: np.ndarray, *, level: float = CI_LEVEL, n_boot: int = N_BOOT,
                     seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """CIs of the median for many (cell, metric) pairs at once.

    ``values`` has shape (G, N, M): G cells, up to N repeats (NaN-padded), M metrics.
    Returns (lo, hi), each (G, M), NaN where a pair has fewer than 3 finite repeats.
    Identical to ``median_ci`` per pair (the same widening), but vectorised: a
    resample's median depends only on which sorted positions were drawn, and
    the draws for n repeats take few distinct position pairs, so each pair's bootstrap
    distribution is a short weighted list.
    """
    g, _, m = values.shape
    lo = np.full((g, m), np.nan)
    hi = np.full((g, m), np.nan)
    ordered = np.sort(values, axis=1)  # NaN sorts last
    counts = np.isfinite(values).sum(axis=1)
    tails = _tails(level)
    for n in sorted(int(c) for c in np.unique(counts) if c >= MIN_REPEATS_FOR_CI):
        p_lo, p_hi = _median_positions(n, n_boot, _rng(seed, n))
        pairs, weights = np.unique(np.column_stack([p_lo, p_hi]), axis=0, return_counts=True)
        gi, mi = np.nonzero(counts == n)
        sorted_vals = ordered[gi, :, mi]  # (K, N)
        support = 0.5 * (sorted_vals[:, pairs[:, 0]] + sorted_vals[:, pairs[:, 1]])  # (K, P)
        boot_lo, boot_hi = _weighted_percentiles(support, weights, tails, n_boot)
        finite = sorted_vals[:, :n]
        median = 0.5 * (finite[:, (n - 1) // 2] + finite[:, n // 2])
        lo[gi, mi], hi[gi, mi] = _widen(boot_lo, boot_hi, median,
                                        finite.std(axis=1, ddof=1), n, level)
    return lo, hi


def _weighted_percentiles(support: np.ndarray, weights: np.ndarray,
                          tails: tuple[float, float], n_boot: int) -> tuple[np.ndarray, ...]:
    """``np.percentile`` (linear) of each row's sample in which ``support[k, j]`` occurs
    ``weights[j]`` times, without expanding the sample."""
    order = np.argsort(support, axis=1)
    vals = np.take_along_axis(support, order, axis=1)
    cum = np.cumsum(weights[order], axis=1)  # (K, P)

    def element(rank: int) -> np.ndarray:  # the rank-th smallest (0-based) of each row
        return vals[np.arange(vals.shape[0]), (cum > rank).argmax(axis=1)]

    out = []
    for t in tails:
        r = t / 100 * (n_boot - 1)
        below = int(math.floor(r))
        above = min(below + 1, n_boot - 1)
        a, b = element(below), element(above)
        out.append(a + (r - below) * (b - a))
    return tuple(out)


def cv_matrix(values: np.ndarray) -> np.ndarray:
    """Coefficient of variation along axis 1 of a (G, N, M) array; NaN for n < 2."""
    counts = np.isfinite(values).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # nansum/count rather than nanmean: no "mean of empty slice" warnings.
        mean = np.where(counts > 0, np.nansum(values, axis=1) / np.maximum(counts, 1), np.nan)
        dev = np.nansum((values - mean[:, None, :]) ** 2, axis=1)
        std = np.sqrt(dev / np.maximum(counts - 1, 1))
        cv = std / np.abs(mean)
    cv[(counts < 2) | (mean == 0)] = np.nan
    return cv


def bootstrap_effect(operands: Sequence[Sequence[float] | np.ndarray], fn: EffectFn, *,
                     level: float = CI_LEVEL, n_boot: int = N_BOOT,
                     seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Percentile-bootstrap CI of ``fn(median of each operand)``.

    Each operand is the repeats of one cell's metric (>= 3 finite values each, else
    (nan, nan)); they are resampled independently, ``fn`` maps a (B, k) matrix of
    resampled medians to B effects.
    """
    arrays = [_finite(v) for v in operands]
    if not arrays or any(a.size < MIN_REPEATS_FOR_CI for a in arrays):
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    matrix = np.column_stack([bootstrap_medians(a, n_boot=n_boot, rng=rng) for a in arrays])
    effects = np.asarray(fn(matrix), dtype=float)
    effects = effects[np.isfinite(effects)]
    if effects.size < n_boot // 2:  # the effect is undefined for most resamples
        return math.nan, math.nan
    lo, hi = np.percentile(effects, _tails(level))
    return float(lo), float(hi)


def corner_interval(intervals: Sequence[tuple[float, float]], fn: EffectFn) -> tuple[float,
                                                                                     float]:
    """Range of ``fn`` over every corner of the operands' intervals (interval arithmetic).

    Exact for effects monotone in each operand (ratios, relative changes); conservative
    (not a probability statement) because it assumes every operand at its extreme at once.
    """
    k = len(intervals)
    if k == 0 or k > MAX_CORNER_OPERANDS or any(
            not (math.isfinite(lo) and math.isfinite(hi)) for lo, hi in intervals):
        return math.nan, math.nan
    corners = np.array(list(itertools.product(*[(lo, hi) for lo, hi in intervals])), dtype=float)
    effects = np.asarray(fn(corners), dtype=float)
    effects = effects[np.isfinite(effects)]
    if effects.size == 0:
        return math.nan, math.nan
    return float(effects.min()), float(effects.max())


def excludes(interval: tuple[float, float], value: float) -> bool | None:
    """Whether ``interval`` lies wholly on one side of ``value``; None when unknown."""
    lo, hi = interval
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return bool(lo > value or hi < value)
