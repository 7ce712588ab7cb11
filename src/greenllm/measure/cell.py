"""One cell (clock x workload): max throughput under SLO, then the named load points."""

from __future__ import annotations

import sys
import time
from collections.abc import Collection
from typing import Any

import pandas as pd

from greenllm.engine.base import Engine, Sampler
from greenllm.load import Workload
from greenllm.measure.config import MeasureCfg
from greenllm.measure.points import PointResult, PointSettings, n_requests, run_point
from greenllm.search import ProbeResult, Slo, find_max_throughput, slo_verdict
from greenllm.search.warm_start import Prior, warm_search
from greenllm.search_outcome import describe_search


def point_record(p: PointResult, *, name: str | None = None, fraction: float | None = None) -> dict[str, Any]:
    """A load point as stored in summary.json (see docs/results-format.md)."""
    m = p.metrics
    return {
        "name": name or p.tag,
        "fraction_of_max": fraction,
        "rate_rps": p.rate_rps,
        **m,
        "energy": p.energy,
        "sm_clock_mhz": p.sm_clock_mhz,
        "throttle_reasons": p.throttle_reasons,
        "flags": p.flags,
    }


def start_rate(cfg: MeasureCfg, baseline: dict[str, Any]) -> float:
    """A first probe rate: half of what a full batch at the alone latency would serve.

    Batching slows each request down, so this is usually above capacity and the search
    brackets it within a probe or two by halving."""
    if cfg.search.start_rps:
        return float(cfg.search.start_rps)
    e2e = max(float(baseline.get("e2e_s") or 1.0), 1e-3)
    return max(float(cfg.search.min_rps), 0.5 * int(cfg.instance.max_batch) / e2e)


def search_max_throughput(cfg: MeasureCfg, settings: PointSettings, engine: Engine,
                          workload: Workload, slo: Slo, baseline: dict[str, Any],
                          label: str, repeat: int = 0, prior: Prior | None = None,
                          ) -> tuple[dict[str, Any], list[pd.DataFrame]]:
    """Max throughput under SLO: the ``max_throughput`` block and every probe's requests.
    With a ``prior`` the search starts from it (``greenllm.search.warm_start``)."""
    frames: list[pd.DataFrame] = []
    s = cfg.search

    def probe(rate: float) -> ProbeResult:
        n = n_requests(rate, int(s.requests_per_probe), float(s.probe_min_duration_s),
                       float(s.probe_max_duration_s))
        tag = f"probe{len(frames)}"
        # a repeated search samples new arrivals (repeat 0 keeps its historical seeds)
        p = run_point(settings, engine, workload, rate, n, tag=tag, slo=slo, sampler=None,
                      seed_offset=100_000 * repeat + len(frames) + 1)
        frames.append(p.frame)
        verdict = slo_verdict(p.metrics, slo)
        why = "" if verdict.ok else f" ({'; '.join(verdict.reasons)})"
        _note(f"{label}: {tag} at {rate:.3g} req/s {'meets' if verdict.ok else 'misses'} SLO{why}")
        return ProbeResult(rate_rps=rate, meets_slo=verdict.ok, metrics=p.metrics,
                           verdict=verdict.to_dict())

    t0 = time.monotonic()
    if prior is not None:
        result = warm_search(probe, prior, max_probes=int(s.max_probes), rel_tol=float(s.rel_tol),
                             min_rps=float(s.min_rps), max_rps=float(s.max_rps), slo=slo,
                             confirm_repeats=int(s.confirm_repeats),
                             boundary_margin=float(s.boundary_margin))
        _note(f"{label}: search started from {prior.source} ({prior.centre_rps:.3g} req/s)")
    else:
        result = find_max_throughput(
            probe, start_rps=start_rate(cfg, baseline), max_probes=int(s.max_probes),
            rel_tol=float(s.rel_tol), min_rps=float(s.min_rps), max_rps=float(s.max_rps),
            time_budget_s=float(s.time_budget_s), slo=slo,
            confirm_repeats=int(s.confirm_repeats), boundary_margin=float(s.boundary_margin),
        )
    search = result.to_dict()
    search["prior"] = None if prior is None else {
        "lower_rps": prior.lower_rps, "upper_rps": prior.upper_rps, "source": prior.source}
    search["search_s"] = time.monotonic() - t0
    search["interval"] = [result.lower_rps, result.upper_rps]
    if search["output_tok_s"] is None and result.rps:
        search["output_tok_s"] = result.rps * workload.output_tokens
    if (what := describe_search(search)) is not None:
        _note(f"{label}: WARNING: {what}")
    return search, frames


def load_point_rates(cfg: MeasureCfg, max_rps: float | None) -> list[tuple[str, float | None, float | None]]:
    """(name, fraction of max or None, rate or None when it cannot be derived)."""
    points: list[tuple[str, float | None, float | None]] = []
    for name in cfg.load.points:
        fraction = float(cfg.load.fractions[name])
        points.append((name, fraction, fraction * max_rps if max_rps else None))
    points += [(f"r{r:g}", None, float(r)) for r in cfg.load.rates_rps]
    return points


def run_load_points(cfg: MeasureCfg, settings: PointSettings, engine: Engine,
                    workload: Workload, slo: Slo, max_rps: float | None, sampler: Sampler,
                    label: str, repeat: int, skip: Collection[str] = (),
                    ) -> tuple[list[dict[str, Any]], list[pd.DataFrame]]:
    """Each named load point once (one repeat), with its energy from the sampler; the
    points in ``skip`` (stopped on their own targets) are left out. A point keeps its
    place ``i`` in the seed, so skipping one does not change another's arrivals."""
    records: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    for i, (name, fraction, rate) in enumerate(load_point_rates(cfg, max_rps)):
        if name in skip:
            continue
        if rate is None:
            _note(f"{label}: load {name} NOT measured: no max throughput to take "
                  f"{fraction:g} of")
            records.append({"name": name, "repeat": repeat, "fraction_of_max": fraction,
                            "rate_rps": None, "flags": ["no_max_throughput"]})
            continue
        n = n_requests(rate, int(cfg.load.requests_per_point), float(cfg.load.min_duration_s),
                       float(cfg.load.max_duration_s))
        rep = f" repeat {repeat + 1}" if cfg.load.repeats != 1 else ""  # None: adaptive
        _note(f"{label}: load {name}{rep} at {rate:.3g} req/s ({n} requests)")
        # A different seed per repeat: repeats sample the arrival process, not replay it.
        p = run_point(settings, engine, workload, rate, n, tag=name, slo=slo, sampler=sampler,
                      seed_offset=1000 * (repeat + 1) + i)
        p.frame.insert(1, "repeat", repeat)
        frames.append(p.frame)
        records.append({**point_record(p, name=name, fraction=fraction), "repeat": repeat})
    return records, frames


def _note(msg: str) -> None:
    print(f"greenllm: {msg}", file=sys.stderr, flush=True)
