"""Adaptive repeats: repeat a cell until its metrics' intervals are tight enough.

A fixed repeat count spends the same GPU time on a cell whose energy per token agrees to
0.5 % after three runs as on one that wanders by 10 %. Instead each metric gets a target
95 % CI half-width, relative to its median (``load.ci_targets``, e.g. TTFT p50 within
+-5 %, energy per output token within +-2 %). After every repeat the cell's intervals
are computed exactly as the statistics table computes them
(``greenllm.analysis.uncertainty.median_ci``: percentile bootstrap of the median over
repeats, widened by a Student t interval at every count but 5, none below 3 repeats).
``load.repeats=N`` keeps the old fixed count (``fixed``).

What stops (``load.stop_per``):

* ``point`` (the default since 2026-12-07): each load point stops on its own, once its
  targets are met or it has ``load.max_repeats`` repeats; later repeats of the cell
  measure only the points still open, and the cell ends when none is. A cell's points
  differ in noise (one near saturation queues, a low one barely does), so the quiet ones
  need not wait for the noisiest: on the paper's grid at two clocks, simulated, 87.5 %
  of the fixed policy's GPU-hours against per-cell stopping's 98.9 %
  (docs/campaign.md). More points then end with 3-4 repeats; the intervals they report
  are widened for that (``median_ci``) and still cover 92-94 %, against 93-94 % per
  cell (synthetic: ``benchmarks/stopping_coverage.py``).
* ``cell``: the cell stops once every target of every load point is met
  (``targets_met``), else at ``load.max_repeats`` (``cap``); every repeat measures every
  point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from greenllm.analysis.uncertainty import CI_LEVEL, MIN_REPEATS_FOR_CI, median_ci, t_quantile
from greenllm.errors import ConfigError

# The defaults: latency within +-5 %, energy within +-2 % (95 % CI half-widths).
DEFAULT_CI_TARGETS: dict[str, float] = {
    "ttft_p50_s": 0.05,
    "tbt_p50_s": 0.05,
    "energy_per_output_token_j": 0.02,
}
DEFAULT_MAX_REPEATS = 5

STOP_TARGETS_MET = "targets_met"
STOP_CAP = "cap"
STOP_FIXED = "fixed"
STOP_PER = ("point", "cell")  # load.stop_per
DEFAULT_STOP_PER = "point"


@dataclass(frozen=True)
class RepeatPolicy:
    """How many times a cell's load points are repeated (see module)."""

    fixed: int | None = None  # load.repeats=N: exactly N, no targets
    targets: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CI_TARGETS))
    max_repeats: int = DEFAULT_MAX_REPEATS
    per_point: bool = False  # load.stop_per=point: each load point stops on its own

    @property
    def adaptive(self) -> bool:
        return self.fixed is None

    @property
    def cap(self) -> int:
        """The most repeats a cell can get under this policy."""
        return self.fixed if self.fixed is not None else self.max_repeats

    @property
    def min_repeats(self) -> int:
        """Below this there is no interval to judge (the statistics table gives none)."""
        return self.cap if self.fixed is not None else min(MIN_REPEATS_FOR_CI, self.cap)

    def to_dict(self) -> dict[str, Any]:
        return {"mode": "adaptive" if self.adaptive else "fixed", "fixed": self.fixed,
                "targets": dict(self.targets) if self.adaptive else {},
                "max_repeats": self.cap,
                "stop_per": "point" if self.per_point and self.adaptive else "cell"}


def repeat_policy(repeats: Any, targets: Mapping[str, Any] | None,
                  max_repeats: Any, stop_per: Any = DEFAULT_STOP_PER) -> RepeatPolicy:
    """The policy from ``load.repeats`` / ``load.ci_targets`` / ``load.max_repeats`` /
    ``load.stop_per``.

    One-line ``ConfigError`` for a target <= 0, a cap below 2 or an unknown ``stop_per``
    (before any GPU time).
    """
    if stop_per not in STOP_PER:
        raise ConfigError(f"load.stop_per must be one of {', '.join(STOP_PER)} (what stops "
                          f"when its targets are met), got {stop_per!r}")
    if repeats is not None:
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ConfigError(f"load.repeats must be a positive integer or null "
                              f"(adaptive), got {repeats!r}")
        return RepeatPolicy(fixed=int(repeats), targets={}, max_repeats=int(repeats))
    if isinstance(max_repeats, bool) or not isinstance(max_repeats, int) or max_repeats < 2:
        raise ConfigError(f"load.max_repeats must be an integer >= 2 (a CI needs repeats), "
                          f"got {max_repeats!r}")
    clean: dict[str, float] = {}
    for metric, width in dict(targets or {}).items():
        try:
            value = float(width)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"load.ci_targets.{metric} must be a relative half-width > 0 "
                              f"(e.g. 0.05 for +-5 %), got {width!r}")
        clean[str(metric)] = value
    if not clean:
        raise ConfigError("load.ci_targets is empty: give at least one metric's target "
                          "or set load.repeats=N for a fixed count")
    return RepeatPolicy(fixed=None, targets=clean, max_repeats=int(max_repeats),
                        per_point=stop_per == "point")


def policy_from_cfg(load: Any) -> RepeatPolicy:
    """``repeat_policy`` from the ``load`` group of the measure config (or any object
    with ``repeats``, ``ci_targets``, ``max_repeats`` and optionally ``stop_per``)."""
    targets = getattr(load, "ci_targets", None)
    return repeat_policy(getattr(load, "repeats", None),
                         dict(targets) if targets is not None else None,
                         getattr(load, "max_repeats", DEFAULT_MAX_REPEATS),
                         getattr(load, "stop_per", DEFAULT_STOP_PER))


def relative_half_width(values: Sequence[float] | np.ndarray) -> float | None:
    """Half the 95 % CI, relative to the median; None while there is no interval
    (fewer than 3 finite values) or the median is 0.

    The larger of two intervals: the statistics table's (``median_ci``) and a Student t
    interval of the mean. At 3-5 repeats the bootstrap interval is about the sample's
    range, which three values that happen to agree make narrow by chance; stopping on it
    alone would pick those cells (optional stopping) and report intervals narrower than
    the noise. The t interval widens with few repeats (t = 4.3 at n = 3), so a cell stops
    only when its spread is genuinely small. At every count but 5 the table's interval
    already holds the t interval, so the width judged is the one the table prints.
    """
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    arr = arr[np.isfinite(arr)]
    lo, hi = median_ci(arr)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    med = float(np.median(arr))
    if med == 0:
        return None
    t_half = t_quantile(CI_LEVEL, arr.size - 1) * float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return max((hi - lo) / 2.0, t_half) / abs(med)


@dataclass(frozen=True)
class RepeatDecision:
    stop: bool
    reason: str | None  # targets_met | cap | fixed; None while going on
    # (load point, metric) -> relative half-width reached (None: no interval yet)
    widths: dict[tuple[str, str], float | None]
    # load point -> why it stopped (None: still open), and its repeats so far
    points: dict[str, str | None] = field(default_factory=dict)
    point_repeats: dict[str, int] = field(default_factory=dict)

    @property
    def open_points(self) -> set[str]:
        """The load points the next repeat measures (every point until the cell stops,
        under per-cell or fixed stopping)."""
        return {p for p, why in self.points.items() if why is None}

    def widths_dict(self) -> dict[str, dict[str, float | None]]:
        out: dict[str, dict[str, float | None]] = {}
        for (point, metric), w in self.widths.items():
            out.setdefault(point, {})[metric] = w
        return out

    def points_dict(self) -> dict[str, dict[str, Any]]:
        return {p: {"stopped": why, "repeats": self.point_repeats.get(p, 0)}
                for p, why in self.points.items()}


def decide(policy: RepeatPolicy, values: Mapping[tuple[str, str], Sequence[float]],
           repeats_done: int) -> RepeatDecision:
    """Stop or go on after ``repeats_done`` repeats of a cell, and which load points the
    next repeat measures.

    ``values[(load point, metric)]`` holds the metric's value of each repeat that
    measured the point (its length is the point's repeats; NaN where the metric is
    missing). A metric never measured at a point (all NaN, e.g. no energy window) cannot
    meet its target: the point goes on to the cap, where the statistics say the CI is
    missing.
    """
    widths = {key: relative_half_width(vals) for key, vals in values.items()
              if key[1] in policy.targets}
    counts: dict[str, int] = {}
    for (point, _), vals in values.items():
        counts[point] = max(counts.get(point, 0), len(vals))

    def uniform(reason: str | None) -> RepeatDecision:
        return RepeatDecision(reason is not None, reason, widths,
                              {p: reason for p in counts}, counts)

    if policy.fixed is not None:
        return uniform(STOP_FIXED if repeats_done >= policy.fixed else None)
    if policy.per_point and widths:
        points: dict[str, str | None] = {}
        for point, n in counts.items():
            own = [(m, w) for (p, m), w in widths.items() if p == point]
            if own and n >= policy.min_repeats and all(
                    w is not None and w <= policy.targets[m] for m, w in own):
                points[point] = STOP_TARGETS_MET
            elif n >= policy.cap or repeats_done >= policy.cap:
                points[point] = STOP_CAP
            else:
                points[point] = None
        if any(why is None for why in points.values()):
            return RepeatDecision(False, None, widths, points, counts)
        met = all(why == STOP_TARGETS_MET for why in points.values())
        return RepeatDecision(True, STOP_TARGETS_MET if met else STOP_CAP, widths, points,
                              counts)
    met = repeats_done >= policy.min_repeats and bool(widths) and all(
        w is not None and w <= policy.targets[metric] for (_, metric), w in widths.items())
    if met:
        return uniform(STOP_TARGETS_MET)
    if repeats_done >= policy.cap:
        return uniform(STOP_CAP)
    return uniform(None)


def replay_stops(policy: RepeatPolicy, values: Mapping[tuple[str, str], Sequence[float]],
                 repeats: int) -> tuple[RepeatDecision | None, int]:
    """``greenllm measure``'s repeat loop replayed on values already measured.

    ``values[(load point, metric)]`` holds a value per repeat, in repeat order. Repeat r
    takes the next value of each point the decision after repeat r-1 left open (every
    point under per-cell or fixed stopping), until the cell stops or ``repeats`` run out.
    Returns the last decision (``point_repeats``: how many values each point keeps; None
    when ``repeats`` is 0) and the repeats the cell ran.
    """
    taken = {point: 0 for point, _ in values}
    open_points = set(taken)
    decision = None
    for r in range(repeats):
        for point in open_points:
            taken[point] += 1
        decision = decide(policy, {(p, m): v[:taken[p]] for (p, m), v in values.items()}, r + 1)
        if decision.stop:
            return decision, r + 1
        open_points = decision.open_points
    return decision, repeats


def summary_values(load_points: Iterable[Mapping[str, Any]],
                   metrics: Iterable[str]) -> dict[tuple[str, str], list[float]]:
    """``values`` for ``decide`` from a cell summary's ``load_points`` (all repeats)."""
    from greenllm.analysis.flatten import _load_point_fields

    wanted = list(metrics)
    out: dict[tuple[str, str], list[float]] = {}
    for lp in load_points:
        if lp.get("rate_rps") is None:  # no max throughput: nothing was measured
            continue
        row = _load_point_fields(dict(lp))
        for metric in wanted:
            value = row.get(metric)
            out.setdefault((str(lp["name"]), metric), []).append(
                float(value) if value is not None else math.nan)
    return out


def decide_summary(policy: RepeatPolicy, summary: Mapping[str, Any]) -> RepeatDecision:
    """``decide`` on a cell's summary.json as written after a repeat."""
    values = summary_values(summary.get("load_points") or [], policy.targets)
    return decide(policy, values, int(summary.get("repeats_done") or 0))


def wants_more_repeats(policy: RepeatPolicy, summary: Mapping[str, Any]) -> bool:
    """Whether ``greenllm measure`` under ``policy`` adds repeats to a cell whose summary
    says ok (it stopped under the policy it was measured with).

    The summary's repeats are judged again under ``policy``: a cell that stopped on its
    targets, or at a cap as high as this one, is done; a fixed count raised past its
    repeats, a higher cap it has not reached on unmet targets, or targets tighter than its
    widths get more. Adaptive stopping is not final on its own: a cell measured once
    (``load.repeats=1``) has no interval, so an adaptive rerun goes on to the targets.
    """
    own = summary.get("repeat_policy") or {}
    if own.get("stopped") and {k: own.get(k) for k in policy.to_dict()} == policy.to_dict():
        return False  # stopped under this very policy: judging again says the same
    done = summary.get("repeats_done", summary.get("repeats", 1))  # older summaries
    values = summary_values(summary.get("load_points") or [], policy.targets)
    return not decide(policy, values, int(done or 0)).stop


def record(summary: dict[str, Any], policy: RepeatPolicy, decision: RepeatDecision) -> None:
    """Write the policy and the decision into the cell summary (``repeat_policy``):
    the cell's ``stopped``, and each load point's (``points``: why and after how many
    repeats; None while it is open)."""
    summary["repeat_policy"] = {**policy.to_dict(), "stopped": decision.reason,
                                "half_widths": decision.widths_dict(),
                                "points": decision.points_dict()}


def skipped_points(policy: RepeatPolicy, summary: Mapping[str, Any] | None) -> set[str]:
    """The load points a cell's next repeat leaves out: those already stopped on their
    own (``stop_per=point``), judged on the summary as written after the last repeat."""
    if summary is None or not policy.adaptive or not policy.per_point:
        return set()
    decision = decide_summary(policy, summary)
    return set(decision.points) - decision.open_points
