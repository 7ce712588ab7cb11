"""Maximum request rate that still meets the SLO: bracket, then bisect.

The search knows nothing about servers: it calls ``probe(rate_rps) -> ProbeResult`` and
the caller decides how a rate is measured (the measurement run wraps the load client with
telemetry; tests pass a function of known capacity).

1. Bracket: probe ``start_rps``; double after a pass, halve after a fail, until a passing
   rate and a failing rate are known (or ``max_rps`` passes / ``min_rps`` fails).
2. Bisect: probe the geometric mean of the bracket, replace the bound on that side, until
   ``upper / lower <= 1 + rel_tol``.

Both phases stop at ``max_probes`` probes, and before a probe that would likely end past
``time_budget_s`` (estimated from the longest probe so far). The answer is the best
*passing* rate probed (``rps``; None if none passed), with the bracket around the true
capacity (``lower_rps``, ``upper_rps``; ``upper_rps`` None if no rate failed).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greenllm.errors import ConfigError


@dataclass
class ProbeResult:
    """One probed rate: did it meet the SLO, and (optionally) what was measured."""

    rate_rps: float
    meets_slo: bool
    metrics: dict[str, Any] | None = None  # LoadMetrics.to_dict() of the probe, if any
    verdict: dict[str, Any] | None = None  # SloVerdict.to_dict(), if any
    duration_s: float = math.nan  # wall time of the probe (filled in by the search)

    def to_dict(self) -> dict[str, Any]:
        """One entry of ``max_throughput.probes`` in ``summary.json``."""
        metrics = self.metrics or {}
        return {
            "rate_rps": self.rate_rps, "meets_slo": self.meets_slo,
            "ttft_s": metrics.get("ttft_s"), "tbt_s": metrics.get("tbt_s"),
            "achieved_rps": metrics.get("achieved_rps"), "n": metrics.get("n_requests"),
            "duration_s": self.duration_s, "verdict": self.verdict,
        }


@dataclass
class SearchResult:
    rps: float | None  # highest passing rate probed; None when no rate passed
    lower_rps: float | None  # highest passing rate below upper_rps
    upper_rps: float | None  # lowest failing rate; None when every probe passed
    converged: bool  # the bracket is within rel_tol (or max_rps passed)
    stop_reason: str  # converged | max_rps_passes | min_rps_fails | max_probes | time_budget
    probes: list[ProbeResult] = field(default_factory=list)

    def best_probe(self) -> ProbeResult | None:
        passing = [p for p in self.probes if p.meets_slo and p.rate_rps == self.rps]
        return passing[-1] if passing else None

    def to_dict(self) -> dict[str, Any]:
        """The ``max_throughput`` block of ``summary.json``."""
        best = self.best_probe()
        tok_s = (best.metrics or {}).get("output_tok_s") if best is not None else None
        return {"rps": self.rps, "output_tok_s": tok_s, "lower_rps": self.lower_rps,
                "upper_rps": self.upper_rps, "converged": self.converged,
                "stop_reason": self.stop_reason, "probes": [p.to_dict() for p in self.probes]}


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


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value > 0
    ):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


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
) -> SearchResult:
    """Search the highest rate in ``[min_rps, max_rps]`` whose probe meets the SLO.

    ``probe(rate)`` returns a ``ProbeResult`` (or a bool, or a ``(metrics, bool)`` pair).
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

    def run(rate: float) -> bool:
        nonlocal lower, upper
        t0 = time.monotonic()
        result = _as_probe_result(rate, probe(rate))
        result.duration_s = time.monotonic() - t0
        probes.append(result)
        passed = bool(result.meets_slo)
        if passed and (upper is None or rate < upper) and (lower is None or rate > lower):
            lower = rate
        if not passed and (upper is None or rate < upper):
            upper = rate
        if verbose:
            print(f"greenllm: probe {len(probes)}: {rate:.4g} req/s "
                  f"{'meets' if passed else 'misses'} the SLO "
                  f"[{lower if lower is None else f'{lower:.4g}'}, "
                  f"{upper if upper is None else f'{upper:.4g}'}]",
                  file=sys.stderr, flush=True)
        return passed

    def finish(reason: str) -> SearchResult:
        passing = [p.rate_rps for p in probes if p.meets_slo]
        below = [r for r in passing if upper is None or r < upper]
        best = max(below) if below else (max(passing) if passing else None)
        converged = reason in ("converged", "max_rps_passes", "min_rps_fails")
        return SearchResult(rps=best, lower_rps=lower, upper_rps=upper, converged=converged,
                            stop_reason=reason, probes=probes)

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
    # Phase 2: bisect on a log scale.
    while upper / lower > 1.0 + rel_tol:
        stop = out_of_budget()
        if stop:
            return finish(stop)
        # The midpoint lies strictly inside the bracket, so either bound moves inwards.
        run(math.sqrt(lower * upper))
    return finish("converged")
