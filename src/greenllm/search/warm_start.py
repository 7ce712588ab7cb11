"""Warm-started max-throughput search: start from what is already known.

A cold search (``find_max_throughput``) starts from a guess derived from the request
latency alone, doubles or halves until it brackets the capacity, then bisects: 6-10
probes a cell. But the capacity at 1800 MHz is close to the one just measured at
1980 MHz, and before anything is measured the simulator predicts it. A warm search
probes just below and just above that prior (a bracket already within ``rel_tol`` when
the prior is right), widens geometrically (x2, x4, ... in log steps) only when it is
wrong, then bisects as the cold search does. Same stopping rule, same result format
(``SearchResult``), same noise handling (a probe within ``boundary_margin`` of the SLO
is repeated and decided by majority), so coverage is unchanged; only the probe count
drops.

``Prior`` comes from the nearest clock already searched (``prior_from_neighbours``) or,
for the first clock, from a prediction (``greenllm.sim``); ``ProbeCache`` lets cells
sharing an instance (and a resumed run) reuse probes already made at the same rate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from greenllm.errors import ConfigError
from greenllm.search.max_throughput import ProbeResult, SearchResult, probe_margin, search_result
from greenllm.search.slo import Slo


@dataclass(frozen=True)
class Prior:
    """Where the capacity probably lies: ``[lower_rps, upper_rps)`` (upper None: unknown)."""

    lower_rps: float
    upper_rps: float | None
    source: str  # e.g. "clock f1980" or "simulator prediction"

    @property
    def centre_rps(self) -> float:
        if self.upper_rps is None:
            return self.lower_rps
        return math.sqrt(self.lower_rps * self.upper_rps)


def prior_from_neighbours(brackets: Mapping[int, tuple[float | None, float | None]],
                          clock_mhz: int) -> Prior | None:
    """The bracket of the nearest clock already searched (ties: the higher clock); with
    two clocks searched, their trend carried on to this clock (capacity changes with the
    clock roughly exponentially over a few hundred MHz), within a factor of 2."""
    usable = {c: b for c, b in brackets.items() if b[0] is not None and b[0] > 0}
    if not usable:
        return None
    near = sorted(usable, key=lambda c: (abs(c - clock_mhz), -c))
    lo, hi = usable[near[0]]
    if len(near) >= 2 and near[0] != near[1]:
        (l1, h1), (l2, h2) = usable[near[0]], usable[near[1]]
        c1 = math.sqrt(l1 * h1) if h1 else l1
        c2 = math.sqrt(l2 * h2) if h2 else l2
        ratio = (c1 / c2) ** ((clock_mhz - near[0]) / (near[0] - near[1]))
        centre = c1 * min(2.0, max(0.5, ratio))
        return Prior(centre, None, f"clocks f{near[0]}, f{near[1]} (trend)")
    return Prior(float(lo), None if hi is None else float(hi), f"clock f{near[0]}")


@dataclass
class ProbeCache:
    """Probes by (instance, clock, workload, rate): a rate probed once is not probed again.

    Rates are compared to 1e-6 relative (the search derives them by arithmetic)."""

    entries: dict[tuple[str, str, str, float], ProbeResult] = field(default_factory=dict)
    hits: int = 0

    @staticmethod
    def _key(instance: str, clock: str, workload: str, rate: float) -> tuple[str, str, str, float]:
        return instance, clock, workload, float(f"{rate:.6g}")

    def wrap(self, instance: str, clock: str, workload: str,
             probe: Callable[[float], ProbeResult]) -> Callable[[float], ProbeResult]:
        def cached(rate: float) -> ProbeResult:
            key = self._key(instance, clock, workload, rate)
            if key in self.entries:
                self.hits += 1
                return self.entries[key]
            result = probe(rate)
            self.entries[key] = result
            return result
        return cached


def warm_search(
    probe: Callable[[float], ProbeResult],
    prior: Prior,
    *,
    max_probes: int,
    rel_tol: float,
    min_rps: float,
    max_rps: float,
    slo: Slo | None = None,
    confirm_repeats: int = 0,
    boundary_margin: float = 0.10,
) -> SearchResult:
    """Max rate meeting the SLO, starting from ``prior`` (see module); a ``SearchResult``
    with the same meaning as ``find_max_throughput``'s."""
    if not (rel_tol > 0 and min_rps > 0 and max_rps >= min_rps and max_probes >= 1):
        raise ConfigError("warm search needs rel_tol > 0, 0 < min_rps <= max_rps, max_probes >= 1")
    probes: list[ProbeResult] = []
    lower: float | None = None
    upper: float | None = None

    def run(rate: float) -> bool:
        nonlocal lower, upper
        runs = [_once(rate, None)]
        index = len(probes) - 1
        m = runs[0].margin
        if confirm_repeats and m is not None and abs(m) <= boundary_margin:
            needed = (confirm_repeats + 1) // 2 + 1
            while len(runs) < 1 + confirm_repeats and len(probes) < max_probes:
                votes = sum(bool(r.meets_slo) for r in runs)
                if votes >= needed or len(runs) - votes >= needed:
                    break
                runs.append(_once(rate, index))
        votes = sum(bool(r.meets_slo) for r in runs)
        passed = votes > len(runs) - votes
        for r in runs:
            r.decided = passed
        if passed and (upper is None or rate < upper) and (lower is None or rate > lower):
            lower = rate
        if not passed and (upper is None or rate < upper):
            upper = rate
        return passed

    def _once(rate: float, confirmation_of: int | None) -> ProbeResult:
        t0 = time.monotonic()
        result = probe(rate)
        if not isinstance(result, ProbeResult):
            result = ProbeResult(rate_rps=rate, meets_slo=bool(result))
        if math.isnan(result.duration_s):  # wall time, as find_max_throughput records it
            result.duration_s = time.monotonic() - t0
        result.confirmation_of = confirmation_of
        if result.margin is None:
            result.margin = probe_margin(result, slo)
        probes.append(result)
        return result

    def clamp(rate: float) -> float:
        return min(max(rate, min_rps), max_rps)

    def finish(reason: str) -> SearchResult:
        return search_result(probes, lower, upper, reason)

    # Bracket: a pair of probes within rel_tol around the prior's centre; when the prior
    # is wrong, widen in growing log steps ((1+tol)^2, ^4, ^8, ...) in the direction it missed.
    pair = 1.0 + rel_tol * (1.0 - 1e-6)  # the first two probes' ratio: within tolerance
    rate = clamp(prior.centre_rps / math.sqrt(pair))
    going_up = run(rate)
    factor = pair
    while lower is None or upper is None:
        if len(probes) >= max_probes:
            return finish("max_probes")
        if going_up and rate >= max_rps:
            return finish("max_rps_passes")
        if not going_up and rate <= min_rps:
            return finish("min_rps_fails")
        rate = clamp(rate * factor if going_up else rate / factor)
        factor = pair * pair if factor == pair else factor * factor
        run(rate)
    while upper / lower > 1.0 + rel_tol:
        if len(probes) >= max_probes:
            return finish("max_probes")
        run(math.sqrt(lower * upper))
    return finish("converged")
