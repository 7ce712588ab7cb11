"""Quantiles of two clients' runs pooled over rounds, with a round-block interval.

The latency-gap bar (issue 13) compares *medians of per-round* quantiles. At a light
load a round sends each arm 60 requests, so a round's p99 is its largest or
second-largest value. Pooling a client's requests over all rounds gives one p99 of ~500
requests instead of eight of 60: the view of the whole distribution that this module
adds to the report.

Requests within a round are not independent (a burst delays the requests around it, and
in paired rounds both arms meet the same engine state), so the interval resamples whole
rounds (a block bootstrap): each draw picks k of the k rounds with replacement and pools
both arms' requests of the rounds drawn. Measured on an H100 (2026-12-07, docs/load.md)
this interval is wider for p99 than the paired per-round medians': the engine drifts
between rounds, so the pooled tail belongs to the slowest rounds, while the ratio
within a round cancels the drift. The bar therefore stays on the per-round medians
(``latency_gap.arm_table``); this table is a second view, not a shortcut.

Runs carry their requests as ``requests: {ttft_ms: [...], tpot_ms: [...], e2e_ms:
[...]}`` (``benchmarks/latency_gap.py`` saves them since 2026-12-07; older runs files
have none and give no pooled rows).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from greenllm.analysis.compare import DEFAULT_TOLERANCE
from greenllm.analysis.latency_gap import interval_verdict
from greenllm.analysis.uncertainty import CI_LEVEL, MIN_REPEATS_FOR_CI

POOLED_METRICS = ("ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms",
                  "e2e_p50_ms", "e2e_p99_ms")
N_BOOT = 2000


def _split(metric: str) -> tuple[str, float]:
    """"ttft_p99_ms" -> ("ttft_ms", 99.0)."""
    name, pct, _ = metric.split("_")
    return f"{name}_ms", float(pct.removeprefix("p"))


def _quantile(parts: Sequence[np.ndarray], pct: float) -> float:
    values = np.concatenate(parts) if parts else np.empty(0)
    return float(np.percentile(values, pct)) if values.size else math.nan


def pooled_ratio(arm_rounds: Sequence[Sequence[float]], ref_rounds: Sequence[Sequence[float]],
                 pct: float, *, level: float = CI_LEVEL, n_boot: int = N_BOOT,
                 seed: int = 0) -> tuple[float, float, float]:
    """ref/arm of the ``pct`` percentile of each side's requests pooled over rounds, and
    its round-block bootstrap interval: (ratio, lo, hi). ``arm_rounds[i]`` and
    ``ref_rounds[i]`` are the same round. The interval is (nan, nan) with fewer than
    ``MIN_REPEATS_FOR_CI`` rounds."""
    if len(arm_rounds) != len(ref_rounds):
        raise ValueError("arm and reference need the same rounds")
    arm = [_finite(r) for r in arm_rounds]
    ref = [_finite(r) for r in ref_rounds]
    a_all, r_all = _quantile(arm, pct), _quantile(ref, pct)
    ratio = r_all / a_all if a_all and math.isfinite(a_all) else math.nan
    k = len(arm)
    if k < MIN_REPEATS_FOR_CI or not math.isfinite(ratio):
        return ratio, math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, k, size=(n_boot, k))
    boot = np.empty(n_boot)
    for b, idx in enumerate(draws):
        a_q = _quantile([arm[i] for i in idx], pct)
        boot[b] = _quantile([ref[i] for i in idx], pct) / a_q if a_q else math.nan
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return ratio, math.nan, math.nan
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(boot, [tail, 100.0 - tail])
    return ratio, float(lo), float(hi)


def pooled_table(runs: Iterable[Mapping[str, Any]], reference: str,
                 metrics: Sequence[str] = POOLED_METRICS,
                 tolerance: float = DEFAULT_TOLERANCE) -> list[dict[str, Any]]:
    """One row per (rate, arm, metric) for each arm that shares rounds with ``reference``
    and whose runs carry ``requests``: the pooled quantile of each side, their ratio with
    its round-block interval, whether it is within ``tolerance`` and where the interval
    lies against that band (``interval_verdict``)."""
    by: dict[tuple[float, str], dict[int, Mapping[str, Sequence[float]]]] = {}
    for run in runs:
        requests = run.get("requests")
        if isinstance(requests, Mapping):
            by.setdefault((float(run["rate"]), str(run["arm"])), {})[int(run["round"])] = requests
    rows = []
    for (rate, arm), rounds in sorted(by.items()):
        ref = by.get((rate, reference))
        if arm == reference or not ref:
            continue
        common = sorted(set(rounds) & set(ref))
        if not common:
            continue
        for metric in metrics:
            field, pct = _split(metric)
            a = [_finite(rounds[r].get(field, [])) for r in common]
            b = [_finite(ref[r].get(field, [])) for r in common]
            ratio, lo, hi = pooled_ratio(a, b, pct)
            if not math.isfinite(ratio):
                continue
            rows.append({"rate": rate, "arm": arm, "metric": metric, "rounds": len(common),
                         "n_arm": sum(x.size for x in a), "n_ref": sum(x.size for x in b),
                         "arm_value": _quantile(a, pct), "ref_value": _quantile(b, pct),
                         "ref_over_arm": ratio, "lo": lo, "hi": hi,
                         "within": bool(abs(ratio - 1) <= tolerance),
                         "decided": interval_verdict(lo, hi, tolerance)})
    return rows


def format_pooled_table(rows: Sequence[Mapping[str, Any]], reference: str) -> str:
    """Markdown, one line per row of ``pooled_table``."""
    out = [f"| rate | arm | metric | rounds | requests arm / {reference} | arm (pooled) | "
           f"{reference} (pooled) | {reference}/arm [95 % CI, rounds resampled] | "
           "within 5 % | CI vs ±5 % |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = (f"[{r['lo']:.3f}, {r['hi']:.3f}]" if math.isfinite(r["lo"]) else "[too few rounds]")
        out.append(f"| {r['rate']:g} | {r['arm']} | {r['metric']} | {r['rounds']} | "
                   f"{r['n_arm']} / {r['n_ref']} | {r['arm_value']:.2f} | {r['ref_value']:.2f} | "
                   f"{r['ref_over_arm']:.3f} {ci} | {'yes' if r['within'] else 'NO'} | "
                   f"{r['decided']} |")
    return "\n".join(out)


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]
