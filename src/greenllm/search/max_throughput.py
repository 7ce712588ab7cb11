"""Maximum request rate that still meets the SLO: bracket, then bisect.

The search knows nothing about servers: it calls ``probe(rate_rps) -> ProbeResult`` and
the caller decides how a rate is measured (the measurement run wraps the load client with
telemetry; tests pass a function of known capacity).

1. Bracket: probe ``start_rps``; double after a pass, halve after a fail, until a passing
   rate and a failing rate are known (or ``max_rps`` passes / ``min_rps`` fails).
2. Bisect: probe the geometric mean of the bracket, replace the bound on that side, until
   ``upper / lower <= 1 + rel_tol``.

Both phases stop at ``max_probes`` probes, and before a probe that would likely end past
``time_budget_s`` (estimated from the longest probe so far). The result is an interval:
the true capacity lies in ``[lower_rps, upper_rps)`` (the highest rate decided passing
below the lowest decided failing; ``upper_rps`` None if no rate failed), and ``rps`` is
the best passing rate probed (None if none passed).

Noise: the same load gives different latencies run to run, so one probe near the SLO
boundary decides by chance. A probe whose decisive margin (``probe_margin``: the relative
slack of the tightest SLO criterion, TTFT, TBT or achieved/offered rate) lies within
``boundary_margin`` of zero is repeated up to ``confirm_repeats`` more times at the same
rate, stopping once a majority is certain; the majority decides (a tie fails: a rate
that misses half the time is not sustained). Every repeat is kept in ``probes`` with
``confirmation_of`` = the index of the probe it confirms; repeats count towards
``max_probes`` and the time budget. Margins need the probe to set
``ProbeResult.margin`` or the caller to pass ``slo`` (then computed from the verdict or
metrics); without either, no probe is repeated.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenllm.errors import ConfigError
from greenllm.search.slo import MIN_ACHIEVED_FRACTION, Slo, slo_verdict
from greenllm.search_outcome import search_flags

DEFAULT_CONFIRM_REPEATS = 2
DEFAULT_BOUNDARY_MARGIN = 0.10


@dataclass
class ProbeResult:
    """One probed rate: did it meet the SLO, and (optionally) what was measured."""

    rate_rps: float
    meets_slo: bool
    metrics: dict[str, Any] | None = None  # LoadMetrics.to_dict() of the probe, if any
    verdict: dict[str, Any] | None = None  # SloVerdict.to_dict(), if any
    duration_s: float = math.nan  # wall time of the probe (filled in by the search)
    # Relative slack of the tightest SLO criterion (> 0 passing side); None: unknown.
    margin: float | None = None
    confirmation_of: int | None = None  # index in probes of the probe this one repeats
    decided: bool | None = None  # the majority decision for this rate (set by the search)

    def to_dict(self) -> dict[str, Any]:
        """One entry of ``max_throughput.probes`` in ``summary.json``."""
        metrics = self.metrics or {}
        return {
            "rate_rps": self.rate_rps, "meets_slo": self.meets_slo,
            "ttft_s": metrics.get("ttft_s"), "tbt_s": metrics.get("tbt_s"),
            "achieved_rps": metrics.get("achieved_rps"), "n": metrics.get("n_requests"),
            "duration_s": self.duration_s, "verdict": self.verdict,
            "margin": self.margin, "confirmation_of": self.confirmation_of,
            "decided": self.decided,
        }


@dataclass
class SearchResult:
    """The capacity lies in [lower_rps, upper_rps); ``rps`` is the best passing rate."""

    rps: float | None  # highest passing rate probed; None when no rate passed
    lower_rps: float | None  # highest rate decided passing below upper_rps
    upper_rps: float | None  # lowest rate decided failing; None when every rate passed
    converged: bool  # the bracket is within rel_tol (or max_rps passed)
    stop_reason: str  # converged | max_rps_passes | min_rps_fails | max_probes | time_budget
    probes: list[ProbeResult] = field(default_factory=list)

    @property
    def interval_rps(self) -> tuple[float | None, float | None]:
        return self.lower_rps, self.upper_rps

    @property
    def n_confirmations(self) -> int:
        return sum(p.confirmation_of is not None for p in self.probes)

    def best_probe(self) -> ProbeResult | None:
        passing = [p for p in self.probes if p.meets_slo and p.rate_rps == self.rps]
        return passing[-1] if passing else None

    def to_dict(self) -> dict[str, Any]:
        """The ``max_throughput`` block of ``summary.json``."""
        best = self.best_probe()
        tok_s = (best.metrics or {}).get("output_tok_s") if best is not None else None
        block = {"rps": self.rps, "output_tok_s": tok_s, "lower_rps": self.lower_rps,
                 "upper_rps": self.upper_rps, "converged": self.converged,
                 "stop_reason": self.stop_reason, "confirmations": self.n_confirmations,
                 "probes": [p.to_dict() for p in self.probes]}
        block["flags"] = search_flags(block)  # no_max_throughput, unbracketed, not_converged
        return block


def probe_margin(result: ProbeResult, slo: Slo | None = None) -> float | None:
    """The relative slack of the probe's tightest SLO criterion (negative: violated).

    ``min`` over TTFT (1 − ttft/limit), TBT (1 − tbt/limit) and the achieved/offered rate
    (fraction/0.9 − 1): for a pass, the criterion closest to its limit; for a miss, the
    worst violation. A miss for another reason (failed requests) is −inf: not noise.
    ``result.margin`` wins when set; None when neither it nor ``slo`` is available.
    """
    if result.margin is not None:
        return float(result.margin)
    if slo is None:
        return None
    verdict = result.verdict
    if verdict is None:
        if not result.metrics:
            return None
        try:
            verdict = slo_verdict(result.metrics, slo).to_dict()
        except (ConfigError, KeyError, TypeError, ValueError):
            return None
    ttft = _as_float(verdict.get("ttft_s"))
    tbt = _as_float(verdict.get("tbt_s"))
    fraction = _as_float(verdict.get("achieved_fraction"))
    reasons = " ".join(str(r) for r in verdict.get("reasons") or [])
    if "failed requests" in reasons or "no successful request" in reasons or not math.isfinite(
            ttft):
        return -math.inf
    slacks = [1 - ttft / slo.ttft_s]
    if math.isfinite(tbt):
        slacks.append(1 - tbt / slo.tbt_s)
    if math.isfinite(fraction):
        slacks.append(fraction / MIN_ACHIEVED_FRACTION - 1)
    return min(slacks)


def _as_float(value: Any) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def _as_probe_result(rate: float, returned: Any) -> ProbeResult:
    """A probe may return a ProbeResult, a bool, or a ``(metrics dict, bool)`` pair."""
    if isinstance(returned, ProbeResult):
        return returned
    if isinstance(returned, bool):
        return ProbeResult(rate_rps=rate, meets_slo=returned)
    if isinstance(returned, tuple) and len(returned) == 2 and isinstance(returned[1], bool):
        metrics = returned[0] if isinstance(returned[0], dict) else None
        return ProbeResult(rate_rps=rate, meets_slo=returned[1], metrics=metrics)
    raise TypeError("probe must return ProbeResult, bool or (metrics, bool), got "
                    f"{type(returned).__name__}")


def _decided(runs: list[ProbeResult], needed: int) -> bool:
    """A majority of all planned runs is already certain."""
    votes = sum(bool(r.meets_slo) for r in runs)
    return max(votes, len(runs) - votes) >= needed


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def search_result(probes: list[ProbeResult], lower: float | None, upper: float | None,
                  reason: str) -> SearchResult:
    """The result of a search that stopped for ``reason``: the highest decided passing
    rate below the failing bound (else the highest passing one), and the bracket."""
    passing = [p.rate_rps for p in probes if p.decided]
    below = [r for r in passing if upper is None or r < upper]
    best = max(below) if below else (max(passing) if passing else None)
    converged = reason in ("converged", "max_rps_passes", "min_rps_fails")
    return SearchResult(rps=best, lower_rps=lower, upper_rps=upper, converged=converged,
                        stop_reason=reason, probes=probes)


def find_max_throughput(
    probe: Callable[[float], ProbeResult],
    *,
    start_rps: float,
    max_probes: int,
    rel_tol: float,
    min_rps: float,
    max_rps: float,
    time_budget_s: float | None = None,
    verbose: bool = False,
    slo: Slo | None = None,
    confirm_repeats: int = DEFAULT_CONFIRM_REPEATS,
    boundary_margin: float = DEFAULT_BOUNDARY_MARGIN,
) -> SearchResult:
    """Search the highest rate in ``[min_rps, max_rps]`` whose probe meets the SLO.

    ``probe(rate)`` returns a ``ProbeResult`` (or a bool, or a ``(metrics, bool)`` pair).
    A probe within ``boundary_margin`` of the SLO boundary (see ``probe_margin``; needs
    ``slo`` or probes that set ``margin``) is repeated up to ``confirm_repeats`` more
    times and decided by majority.
    """
    start_rps = _positive("start_rps", start_rps)
    rel_tol = _positive("rel_tol", rel_tol)
    min_rps = _positive("min_rps", min_rps)
    max_rps = _positive("max_rps", max_rps)
    if max_rps < min_rps:
        raise ConfigError(f"max_rps ({max_rps}) must be >= min_rps ({min_rps})")
    if isinstance(max_probes, bool) or not isinstance(max_probes, int) or max_probes < 1:
        raise ConfigError(f"max_probes must be a positive integer, got {max_probes!r}")
    if time_budget_s is not None:
        time_budget_s = _positive("time_budget_s", time_budget_s)
    if isinstance(confirm_repeats, bool) or not isinstance(confirm_repeats, int) or \
            confirm_repeats < 0:
        raise ConfigError(f"confirm_repeats must be an integer >= 0, got {confirm_repeats!r}")
    if isinstance(boundary_margin, bool) or not isinstance(boundary_margin, (int, float)) or \
            not (math.isfinite(boundary_margin) and boundary_margin >= 0):
        raise ConfigError(f"boundary_margin must be a number >= 0, got {boundary_margin!r}")
    start_rps = min(max(start_rps, min_rps), max_rps)

    probes: list[ProbeResult] = []
    lower: float | None = None  # highest pass below upper
    upper: float | None = None  # lowest fail
    t_start = time.monotonic()

    def out_of_budget() -> str | None:
        if len(probes) >= max_probes:
            return "max_probes"
        if time_budget_s is not None and probes:
            elapsed = time.monotonic() - t_start
            longest = max(p.duration_s for p in probes)
            if elapsed + longest > time_budget_s:
                return "time_budget"
        return None

    def probe_once(rate: float, confirmation_of: int | None) -> ProbeResult:
        t0 = time.monotonic()
        result = _as_probe_result(rate, probe(rate))
        result.duration_s = time.monotonic() - t0
        result.confirmation_of = confirmation_of
        result.margin = probe_margin(result, slo)
        probes.append(result)
        if verbose:
            what = "" if confirmation_of is None else f" (repeat of probe {confirmation_of + 1})"
            print(f"greenllm: probe {len(probes)}{what}: {rate:.4g} req/s "
                  f"{'meets' if result.meets_slo else 'misses'} the SLO"
                  + ("" if result.margin is None else f", margin {result.margin:+.1%}"),
                  file=sys.stderr, flush=True)
        return result

    def near_boundary(result: ProbeResult) -> bool:
        return result.margin is not None and abs(result.margin) <= boundary_margin

    def run(rate: float) -> bool:
        """Probe ``rate`` (repeating it near the boundary) and update the bracket."""
        nonlocal lower, upper
        first = probe_once(rate, None)
        runs = [first]
        if confirm_repeats and near_boundary(first):
            index = len(probes) - 1
            needed = (confirm_repeats + 1) // 2 + 1  # votes that make a majority of all
            while len(runs) < 1 + confirm_repeats and not _decided(runs, needed):
                if out_of_budget():
                    break
                runs.append(probe_once(rate, index))
        votes = sum(bool(r.meets_slo) for r in runs)
        passed = votes > len(runs) - votes  # a tie fails
        for r in runs:
            r.decided = passed
        if passed and (upper is None or rate < upper) and (lower is None or rate > lower):
            lower = rate
        if not passed and (upper is None or rate < upper):
            upper = rate
        if verbose:
            tally = f" ({votes}/{len(runs)} passes)" if len(runs) > 1 else ""
            print(f"greenllm: {rate:.4g} req/s decided "
                  f"{'meets' if passed else 'misses'}{tally} "
                  f"[{lower if lower is None else f'{lower:.4g}'}, "
                  f"{upper if upper is None else f'{upper:.4g}'}]",
                  file=sys.stderr, flush=True)
        return passed

    def finish(reason: str) -> SearchResult:
        return search_result(probes, lower, upper, reason)

    # Phase 1: bracket.
    rate = start_rps
    passed = run(rate)
    while (lower is None) or (upper is None):
        if passed:
            if rate >= max_rps:
                return finish("max_rps_passes")
            rate = min(rate * 2.0, max_rps)
        else:
            if rate <= min_rps:
                return finish("min_rps_fails")
            rate = max(rate / 2.0, min_rps)
        stop = out_of_budget()
        if stop:
            return finish(stop)
        passed = run(rate)
    # Phase 2: bisect on a log scale (bounds move on decisions, so the midpoint lies
    # strictly inside the bracket and is never a rate already decided).
    while upper / lower > 1.0 + rel_tol:
        stop = out_of_budget()
        if stop:
            return finish(stop)
        run(math.sqrt(lower * upper))
    return finish("converged")
