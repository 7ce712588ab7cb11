"""Where a latency gap between two clients comes from: saved runs in, a table out.

``benchmarks/latency_gap.py`` runs several *arms* (greenllm's client with token-id or
text prompts, with or without its extra request fields, and ``vllm bench serve``) in
interleaved rounds against one server, and saves for each run the client's metrics under
vLLM's definitions plus the server's own view of the same requests: the mean of each
latency histogram of vLLM's Prometheus ``/metrics`` over the run (difference of
``_sum`` over difference of ``_count``). This module turns those saved runs into
per-arm medians, each arm's ratio to a reference arm with a bootstrap interval, and the
split of client TTFT into what the engine saw (``server_ttft``: from the request's
arrival in the engine, after the API server tokenized it) and the rest (HTTP, API
server, tokenization, client) — the three hypotheses of issue 13 in numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from greenllm.analysis.compare import DEFAULT_TOLERANCE, compare_values
from greenllm.analysis.uncertainty import median_ci
from greenllm.prometheus_text import parse_counters

# vLLM 0.26's request-latency histograms (vllm/v1/metrics/loggers.py), seconds.
SERVER_HISTOGRAMS = (
    "vllm:time_to_first_token_seconds",
    "vllm:inter_token_latency_seconds",
    "vllm:request_time_per_output_token_seconds",
    "vllm:request_queue_time_seconds",
    "vllm:request_prefill_time_seconds",
    "vllm:request_decode_time_seconds",
    "vllm:e2e_request_latency_seconds",
)

GAP_METRICS = ("ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p99_ms", "itl_p50_ms",
               "itl_p99_ms", "e2e_p50_ms", "e2e_p99_ms", "ttft_mean_ms", "throughput_rps",
               "server_ttft_mean_ms", "outside_engine_ttft_mean_ms",
               "server_itl_mean_ms", "server_tpot_mean_ms")


def histogram_means_ms(before: str, after: str,
                       names: Sequence[str] = SERVER_HISTOGRAMS) -> dict[str, float]:
    """Mean (ms) of each histogram over the requests that finished between two scrapes
    of Prometheus text; a histogram with no new observation is left out."""
    series = [f"{n}_{part}" for n in names for part in ("sum", "count")]
    b, a = parse_counters(before, series), parse_counters(after, series)
    out: dict[str, float] = {}
    for name in names:
        d_count = a.get(f"{name}_count", 0.0) - b.get(f"{name}_count", 0.0)
        d_sum = a.get(f"{name}_sum", 0.0) - b.get(f"{name}_sum", 0.0)
        if d_count > 0:
            short = name.removeprefix("vllm:").removesuffix("_seconds")
            out[f"server_{short}_mean_ms"] = 1000.0 * d_sum / d_count
    return out


def with_server_view(client: Mapping[str, float], server: Mapping[str, float]) -> dict[str, float]:
    """Client metrics plus the server's means, and the part of the client's mean TTFT
    that the engine did not see (``outside_engine_ttft_mean_ms``)."""
    out = {**client, **server}
    aliases = {"server_itl_mean_ms": "server_inter_token_latency_mean_ms",
               "server_tpot_mean_ms": "server_request_time_per_output_token_mean_ms",
               "server_ttft_mean_ms": "server_time_to_first_token_mean_ms"}
    for alias, name in aliases.items():
        if name in out:
            out[alias] = out[name]
    if "ttft_mean_ms" in out and "server_ttft_mean_ms" in out:
        out["outside_engine_ttft_mean_ms"] = out["ttft_mean_ms"] - out["server_ttft_mean_ms"]
    return out


def arm_table(runs: Iterable[Mapping[str, Any]], reference: str,
              metrics: Sequence[str] = GAP_METRICS,
              tolerance: float = DEFAULT_TOLERANCE) -> list[dict[str, Any]]:
    """One row per (rate, arm, metric): the arm's median over rounds, the reference
    arm's, reference/arm with its 95 % bootstrap interval over rounds, and whether that
    ratio is within ``tolerance``, and where its interval lies against that band
    (``decided``: ``interval_verdict``). ``runs`` are dicts with ``rate``, ``arm`` and
    ``metrics``, as the benchmark saves them.

    Runs saved by ``--paired`` (``paired: true``, a ``round`` each) are compared round by
    round: the ratio is the median of each round's reference/arm, its interval a
    bootstrap over rounds (``stat`` "paired"). Both arms of a round met the same engine
    state, so the engine's drift between rounds (on the H200: TTFT p50 22-34 ms from one
    round to the next at the same light load) cancels instead of widening the interval;
    the ratio of the two arms' medians would keep it. Otherwise ``stat`` is "unpaired"."""
    by: dict[tuple[float, str], list[Mapping[str, Any]]] = {}
    for run in runs:
        by.setdefault((float(run["rate"]), str(run["arm"])), []).append(run)
    rows = []
    for (rate, arm), got in sorted(by.items()):
        ref = by.get((rate, reference), [])
        pairs = _round_pairs(got, ref)
        for metric in metrics:
            a = [m["metrics"][metric] for m in got if _finite(m["metrics"].get(metric))]
            r = [m["metrics"][metric] for m in ref if _finite(m["metrics"].get(metric))]
            if not a:
                continue
            row: dict[str, Any] = {"rate": rate, "arm": arm, "metric": metric, "n": len(a),
                                   "median": float(np.median(a))}
            if r and arm != reference:
                ratios = [y / x for x, y in ((p[0].get(metric), p[1].get(metric))
                                             for p in pairs)
                          if _finite(x) and _finite(y) and x != 0]
                if pairs and ratios:
                    ratio = float(np.median(ratios))
                    lo, hi = median_ci(ratios)
                    row.update(ref_median=float(np.median(r)), ref_over_arm=ratio, lo=lo,
                               hi=hi, n_pairs=len(ratios),
                               within=bool(abs(ratio - 1) <= tolerance), stat="paired")
                else:
                    c = compare_values(metric, a, r, tolerance)
                    row.update(ref_median=c.median_b, ref_over_arm=c.ratio, lo=c.ratio_ci[0],
                               hi=c.ratio_ci[1], within=c.within_tolerance,
                               gap_exceeds_spread=c.gap_exceeds_spread, stat="unpaired")
            if "lo" in row:
                row["decided"] = interval_verdict(row["lo"], row["hi"], tolerance)
            rows.append(row)
    return rows


def interval_verdict(lo: float, hi: float, tolerance: float = DEFAULT_TOLERANCE) -> str:
    """What the ratio's 95 % interval says about the ``tolerance`` band around 1:
    "inside" (the whole interval in it: agreement shown), "outside" (the whole interval
    beyond one edge: a gap shown), else "undecided". A median can land inside the band by
    luck when the rounds are few and noisy (a p99 from 60 requests); this says whether the
    run was long enough to tell (docs/load.md, "How many rounds a p99 bar needs")."""
    if not (_finite(lo) and _finite(hi)):
        return "undecided"
    if 1 - tolerance <= lo and hi <= 1 + tolerance:
        return "inside"
    if hi < 1 - tolerance or lo > 1 + tolerance:
        return "outside"
    return "undecided"


def _round_pairs(arm_runs: Sequence[Mapping[str, Any]], ref_runs: Sequence[Mapping[str, Any]]
                 ) -> list[tuple[Mapping[str, float], Mapping[str, float]]]:
    """(arm metrics, reference metrics) of every round both ran paired; [] unless every
    run of both is a paired one (a mixed set is compared unpaired)."""
    if not arm_runs or not ref_runs or not all(r.get("paired") for r in [*arm_runs, *ref_runs]):
        return []
    ref_by_round = {int(r["round"]): r["metrics"] for r in ref_runs}
    return [(r["metrics"], ref_by_round[int(r["round"])]) for r in arm_runs
            if int(r["round"]) in ref_by_round]


def format_table(rows: Sequence[Mapping[str, Any]], reference: str) -> str:
    """Markdown: one line per (rate, arm, metric); the last column says which ratio."""
    out = [f"| rate | arm | metric | n | median | {reference} median | {reference}/arm "
           "[95 % CI] | within 5 % | CI vs ±5 % | ratio of |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "ref_over_arm" in r:
            ratio = f"{r['ref_over_arm']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}]"
            ref, within = f"{r['ref_median']:.2f}", "yes" if r["within"] else "NO"
            stat = ("medians of the rounds' ratios" if r.get("stat") == "paired"
                    else "the arms' medians")
        else:
            ratio, ref, within, stat = "", "", "", ""
        out.append(f"| {r['rate']:g} | {r['arm']} | {r['metric']} | {r['n']} | "
                   f"{r['median']:.2f} | {ref} | {ratio} | {within} | "
                   f"{r.get('decided', '')} | {stat} |")
    return "\n".join(out)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
