"""One cell (clock x workload): max throughput under SLO, then the named load points."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

import pandas as pd
from omegaconf import DictConfig

from greenllm.gpu import TelemetrySampler
from greenllm.load import Workload
from greenllm.measure.points import PointResult, PointSettings, n_requests, run_point
from greenllm.search import ProbeResult, Slo, find_max_throughput, slo_verdict


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


def start_rate(cfg: DictConfig, baseline: dict[str, Any]) -> float:
    """A first probe rate: a quarter of what max_batch concurrent alone-latency requests do."""
    if cfg.search.start_rps:
        return float(cfg.search.start_rps)
    e2e = max(float(baseline.get("e2e_s") or 1.0), 1e-3)
    return max(float(cfg.search.min_rps), 0.25 * min(int(cfg.instance.max_batch), 16) / e2e)


def run_cell(cfg: DictConfig, settings: PointSettings, workload: Workload, slo: Slo,
             baseline: dict[str, Any], sampler: TelemetrySampler,
             check_engine: Callable[[], None], label: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """Search the max throughput under SLO, then run each named load point.

    Returns the cell's summary fields (max_throughput, load_points) and all requests.
    """
    frames: list[pd.DataFrame] = []
    s = cfg.search

    def probe(rate: float) -> ProbeResult:
        n = n_requests(rate, int(s.requests_per_probe), float(s.probe_min_duration_s),
                       float(s.probe_max_duration_s))
        tag = f"probe{len(frames)}"
        p = run_point(settings, workload, rate, n, tag=tag, slo=slo, sampler=None,
                      check_engine=check_engine, seed_offset=len(frames) + 1)
        frames.append(p.frame)
        verdict = slo_verdict(p.metrics, slo)
        why = "" if verdict.ok else f" ({'; '.join(verdict.reasons)})"
        _note(f"{label}: {tag} at {rate:.3g} req/s {'meets' if verdict.ok else 'misses'} SLO{why}")
        return ProbeResult(rate_rps=rate, meets_slo=verdict.ok, metrics=p.metrics,
                           verdict=verdict.to_dict())

    t0 = time.monotonic()
    result = find_max_throughput(
        probe, start_rps=start_rate(cfg, baseline), max_probes=int(s.max_probes),
        rel_tol=float(s.rel_tol), min_rps=float(s.min_rps), max_rps=float(s.max_rps),
        time_budget_s=float(s.time_budget_s),
    )
    max_rps = result.rps
    search = result.to_dict()
    search["search_s"] = time.monotonic() - t0
    if search["output_tok_s"] is None and max_rps:
        search["output_tok_s"] = max_rps * workload.output_tokens
    summary: dict[str, Any] = {"max_throughput": search, "load_points": []}
    points = [(name, float(cfg.load.fractions[name])) for name in cfg.load.points]
    points += [(f"r{r:g}", None) for r in cfg.load.rates_rps]
    for i, (name, fraction) in enumerate(points):
        if fraction is not None:
            if not max_rps:
                summary["load_points"].append({"name": name, "fraction_of_max": fraction,
                                               "rate_rps": None, "flags": ["no_max_throughput"]})
                continue
            rate = fraction * max_rps
        else:
            rate = float(name[1:])
        n = n_requests(rate, int(cfg.load.requests_per_point), float(cfg.load.min_duration_s),
                       float(cfg.load.max_duration_s))
        _note(f"{label}: load {name} at {rate:.3g} req/s ({n} requests)")
        p = run_point(settings, workload, rate, n, tag=name, slo=slo, sampler=sampler,
                      check_engine=check_engine, seed_offset=1000 + i)
        frames.append(p.frame)
        summary["load_points"].append(point_record(p, name=name, fraction=fraction))
    requests = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return summary, requests


def _note(msg: str) -> None:
    print(f"greenllm: {msg}", file=sys.stderr, flush=True)
