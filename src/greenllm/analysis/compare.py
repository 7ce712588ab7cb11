"""Interleaved A/B comparison of two measurement procedures, by median and spread.

On the H100 the same load on the same server gave TTFT p50 47 ms in one run and 97 ms in
the next, so a single A-then-B pair compares mostly noise. ``greenllm.compare.run_ab`` runs A B A B …
for k rounds (interleaved, so slow drift of the machine falls on both alike) and reports per
metric the median of A and of B, the ratio B/A with a 95 % bootstrap interval over the
rounds, the spread (min–max and IQR) within each side, and whether the gap between the
medians exceeds that spread: each median lies outside the other side's min–max range.
(With 5 rounds, a side's min–max range is also the percentile-bootstrap CI of its median,
which covers the true median 94 % of the time: see ``uncertainty``.)

Used by ``benchmarks/compare_ab.py`` to compare greenllm's client with ``vllm bench
serve`` on one server (goal: medians of >= 5 interleaved rounds within 5 %). Parsing of
``vllm bench serve`` results and greenllm metrics under vLLM's definitions live here too.
This module only compares numbers and reads files; what *runs* the two sides (``run_ab``,
``command_runner``, the client and ``vllm bench serve`` adapters) is ``greenllm.compare``.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from greenllm.analysis.uncertainty import MIN_REPEATS_FOR_CI, bootstrap_effect
from greenllm.errors import ConfigError, GreenllmError

if TYPE_CHECKING:  # the runtime import stays lazy, as in the functions below
    from greenllm.load.metrics import LoadMetrics

Metrics = dict[str, float]
DEFAULT_TOLERANCE = 0.05  # "the same" = medians within 5 %


@dataclass
class MetricComparison:
    """One metric over the rounds: medians, ratio B/A, spreads and the verdicts."""

    name: str
    a: list[float]
    b: list[float]
    median_a: float
    median_b: float
    ratio: float  # median_b / median_a
    ratio_ci: tuple[float, float]  # 95 % bootstrap over rounds (NaN with < 3 rounds)
    range_a: tuple[float, float]  # min, max
    range_b: tuple[float, float]
    iqr_a: float
    iqr_b: float
    gap_exceeds_spread: bool  # each median outside the other side's min–max range
    within_tolerance: bool  # |ratio − 1| <= tolerance

    def verdict(self) -> str:
        if self.within_tolerance:
            return "same" if not self.gap_exceeds_spread else "same (but consistent gap)"
        return "differs" if self.gap_exceeds_spread else "differs (within spread)"


@dataclass
class ComparisonReport:
    label_a: str
    label_b: str
    rounds: int
    order: str
    tolerance: float
    metrics: dict[str, MetricComparison] = field(default_factory=dict)
    sequence: list[str] = field(default_factory=list)  # e.g. ["A", "B", "A", "B"]

    def all_within_tolerance(self, names: Sequence[str] | None = None) -> bool:
        chosen = [self.metrics[n] for n in (names or self.metrics) if n in self.metrics]
        return bool(chosen) and all(m.within_tolerance for m in chosen)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for m in out["metrics"].values():
            m["verdict"] = self.metrics[m["name"]].verdict()
        return out

    def to_text(self) -> str:
        """A fixed-width table: one line per metric."""
        head = (f"{'metric':<22} {'median ' + self.label_a:>16} {'median ' + self.label_b:>16} "
                f"{'B/A':>7} {'B/A 95% CI':>17} {'range A':>21} {'range B':>21}  verdict")
        lines = [f"{self.rounds} rounds, order {self.order}, tolerance ±{self.tolerance:.0%}; "
                 f"A = {self.label_a}, B = {self.label_b}", head, "-" * len(head)]
        for m in self.metrics.values():
            ci = (f"{m.ratio_ci[0]:.3f}–{m.ratio_ci[1]:.3f}"
                  if all(math.isfinite(v) for v in m.ratio_ci) else "-")
            lines.append(
                f"{m.name:<22} {m.median_a:>16.4g} {m.median_b:>16.4g} {m.ratio:>7.3f} "
                f"{ci:>17} {_range(m.range_a):>21} {_range(m.range_b):>21}  {m.verdict()}")
        return "\n".join(lines)


def _range(r: tuple[float, float]) -> str:
    return f"{r[0]:.4g}–{r[1]:.4g}"


def paired_ratios(run_logs: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, list[float]]:
    """B/A of every round, per metric, over several comparisons' saved runs
    (``<report>.runs.json``: ``{"side", "round", "metrics"}`` entries).

    Pooling rounds from several servers (e.g. one per time-boxed machine) is fair only
    pairwise: each round's A and B ran on the same server minutes apart, while medians
    of all A and all B would mix the servers' own differences into the comparison."""
    out: dict[str, list[float]] = {}
    for log in run_logs:
        rounds: dict[int, dict[str, Mapping[str, float]]] = {}
        for entry in log:
            rounds.setdefault(int(entry["round"]), {})[str(entry["side"])] = entry["metrics"]
        for sides in rounds.values():
            if set(sides) != {"A", "B"}:
                continue  # a round cut short has no pair
            for name in set(sides["A"]) & set(sides["B"]):
                a, b = float(sides["A"][name]), float(sides["B"][name])
                if a != 0 and math.isfinite(a) and math.isfinite(b):
                    out.setdefault(name, []).append(b / a)
    return out


def compare_values(name: str, a: Sequence[float], b: Sequence[float],
                   tolerance: float = DEFAULT_TOLERANCE) -> MetricComparison:
    """Medians, ratio B/A (with its bootstrap CI), spreads and verdicts of two samples."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    med_a, med_b = float(np.median(xa)), float(np.median(xb))
    ratio = med_b / med_a if med_a != 0 else math.nan
    if min(xa.size, xb.size) >= MIN_REPEATS_FOR_CI:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio_ci = bootstrap_effect([xa, xb], lambda x: x[:, 1] / x[:, 0])
    else:
        ratio_ci = (math.nan, math.nan)
    range_a = (float(xa.min()), float(xa.max()))
    range_b = (float(xb.min()), float(xb.max()))
    gap = not (range_a[0] <= med_b <= range_a[1]) and not (range_b[0] <= med_a <= range_b[1])
    return MetricComparison(
        name=name, a=xa.tolist(), b=xb.tolist(), median_a=med_a, median_b=med_b, ratio=ratio,
        ratio_ci=ratio_ci, range_a=range_a, range_b=range_b, iqr_a=_iqr(xa), iqr_b=_iqr(xb),
        gap_exceeds_spread=bool(gap),
        within_tolerance=bool(math.isfinite(ratio) and abs(ratio - 1) <= tolerance),
    )


def _iqr(x: np.ndarray) -> float:
    q1, q3 = np.percentile(x, [25, 75])
    return float(q3 - q1)


# --- shell commands as runners ----------------------------------------------------------


# --- vllm bench serve -------------------------------------------------------------------

_VLLM_KEY = re.compile(r"^(mean|median|std|p\d+(?:\.\d+)?)_(ttft|tpot|itl|e2el)_ms$")
_VLLM_PLAIN = {
    "request_throughput": "throughput_rps",
    "output_throughput": "output_tok_s",
    "total_token_throughput": "total_tok_s",
    "completed": "n_ok",
    "failed": "n_failed",
    "duration": "duration_s",
}


def parse_vllm_bench_result(result: Mapping[str, Any] | str | Path) -> Metrics:
    """Metrics of a ``vllm bench serve --save-result`` JSON under greenllm's names.

    ``median_ttft_ms`` -> ``ttft_p50_ms``, ``p99_itl_ms`` -> ``itl_p99_ms``, ``mean_tpot_ms``
    -> ``tpot_mean_ms``, ``*_e2el_ms`` -> ``e2e_*_ms``; ``request_throughput`` ->
    ``throughput_rps``, ``output_throughput`` -> ``output_tok_s``. Per-request lists
    (ttfts, itls, …) are ignored.
    """
    if isinstance(result, (str, Path)):
        path = Path(result)
        try:
            result = json.loads(path.read_text())
        except OSError as exc:
            raise GreenllmError(f"{path}: cannot read vllm bench result: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise GreenllmError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(result, Mapping):
        raise GreenllmError("a vllm bench result must be a JSON object")
    out: Metrics = {}
    for key, value in result.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        match = _VLLM_KEY.match(key)
        if match:
            stat, metric = match.groups()
            stat = "p50" if stat == "median" else stat
            metric = "e2e" if metric == "e2el" else metric
            out[f"{metric}_{stat}_ms"] = float(value)
        elif key in _VLLM_PLAIN:
            out[_VLLM_PLAIN[key]] = float(value)
    if "ttft_p50_ms" not in out:
        raise GreenllmError("vllm bench result has no median_ttft_ms: was it a generation "
                            "benchmark with a tokenizer?")
    return out


def vllm_request_latencies_ms(result: Mapping[str, Any]) -> dict[str, list[float]]:
    """Per successful request of a ``vllm bench serve --save-detailed`` result: ``ttft_ms``,
    ``tpot_ms`` (NaN for a one-token reply) and ``e2e_ms``, by vLLM's own definitions:
    its latency is the last token's arrival, i.e. TTFT plus the sum of the ITLs, and its
    TPOT that sum over output_len - 1 (vllm/benchmarks/serve.py). {} if the result holds
    no per-request lists (run without --save-detailed)."""
    ttfts, itls = result.get("ttfts"), result.get("itls")
    lens, errors = result.get("output_lens"), result.get("errors")
    if not isinstance(ttfts, list) or not isinstance(itls, list) or not isinstance(lens, list):
        return {}
    errors = errors if isinstance(errors, list) else [""] * len(ttfts)
    out: dict[str, list[float]] = {"ttft_ms": [], "tpot_ms": [], "e2e_ms": []}
    for ttft, gaps, n_out, error in zip(ttfts, itls, lens, errors, strict=True):
        if error or not n_out or not isinstance(ttft, (int, float)) or ttft <= 0:
            continue  # a failed request: vLLM leaves it out of its percentiles too
        decode = float(sum(gaps))
        out["ttft_ms"].append(1000.0 * ttft)
        out["e2e_ms"].append(1000.0 * (ttft + decode))
        out["tpot_ms"].append(1000.0 * decode / (n_out - 1) if n_out > 1 else math.nan)
    return out


def greenllm_request_latencies_ms(frame: pd.DataFrame, *, metrics: LoadMetrics | None = None
                                  ) -> dict[str, list[float]]:
    """``vllm_request_latencies_ms``'s lists for greenllm's requests frame. ``metrics``:
    ``compute_metrics(frame)`` when the caller has it already."""
    from greenllm.load.metrics import compute_metrics

    m = metrics if metrics is not None else compute_metrics(frame)
    return {f"{name}_ms": [1000.0 * float(v) for v in values]
            for name, values in (("ttft", m.ttft_values_s), ("tpot", m.tpot_values_s),
                                 ("e2e", m.e2e_values_s))}


def vllm_bench_argv(
    *, base_url: str, model: str, input_tokens: int, output_tokens: int, rate_rps: float,
    n_requests: int, seed: int, result_dir: str | Path, result_filename: str,
    tokenizer: str | None = None, vllm: str = "vllm", backend: str = "vllm",
    extra_args: Sequence[str] = (),
) -> list[str]:
    """``vllm bench serve`` arguments for the same load greenllm's client sends.

    Random token prompts of exactly ``input_tokens`` (``--random-range-ratio 0``), exactly
    ``output_tokens`` out (``--ignore-eos``; vLLM sets ``max_tokens``), Poisson arrivals
    (``--burstiness 1``), greedy sampling, percentiles 50/90/99 of TTFT, TPOT, ITL, E2EL.
    """
    argv = [
        *shlex.split(vllm), "bench", "serve",
        "--backend", backend, "--base-url", base_url.rstrip("/"),
        "--endpoint", "/v1/completions", "--model", model,
        "--dataset-name", "random", "--random-input-len", str(int(input_tokens)),
        "--random-output-len", str(int(output_tokens)), "--random-range-ratio", "0",
        "--num-prompts", str(int(n_requests)), "--request-rate", f"{float(rate_rps):g}",
        "--burstiness", "1.0", "--seed", str(int(seed)), "--ignore-eos",
        "--temperature", "0",
        "--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90,99",
        "--save-result", "--result-dir", str(result_dir), "--result-filename", result_filename,
        "--disable-tqdm",
    ]
    if tokenizer:
        argv += ["--tokenizer", tokenizer]
    return argv + list(extra_args)


# --- greenllm's metrics under vLLM's definitions ---------------------------------------


def itl_per_chunk_s(frame: pd.DataFrame) -> np.ndarray:
    """Inter-chunk gaps of every successful request, vLLM's ITL definition.

    greenllm's TBT spreads a k-token chunk's gap over its k tokens; vLLM's ITL records one
    gap per streamed chunk. Records counted with ``tokens_per_chunk="chunks"`` hold one
    time per chunk (chunks read together share a time: gaps of 0, as vLLM also sees
    them); other records hold one time per token, so tokens of one chunk are merged first.
    """
    gaps: list[np.ndarray] = []
    ok = frame[frame["ok"].astype(bool)]
    for times, source in zip(ok["token_times_s"], ok["token_count_source"], strict=True):
        arr = np.asarray(times if times is not None else [], dtype=float)
        if arr.size < 2:
            continue
        gaps.append(np.diff(arr) if source == "chunks" else np.diff(np.unique(arr)))
    return np.concatenate(gaps) if gaps else np.empty(0)


def greenllm_metrics_from_frame(frame: pd.DataFrame, *, itl: str = "chunk",
                                metrics: LoadMetrics | None = None) -> Metrics:
    """TTFT/TPOT/E2E/ITL (ms) and throughput of a requests frame, named like
    ``parse_vllm_bench_result``'s output. ``itl``: "chunk" (vLLM's per-chunk ITL) or
    "spread" (greenllm's TBT, a chunk's gap spread over its tokens). ``metrics``:
    ``compute_metrics(frame)`` when the caller has it already."""
    from greenllm.load.metrics import compute_metrics, percentile_block

    if itl not in ("chunk", "spread"):
        raise ConfigError(f"itl must be 'chunk' or 'spread', got {itl!r}")
    m = metrics if metrics is not None else compute_metrics(frame)
    out: Metrics = {}
    blocks = {"ttft": m.ttft_s, "tpot": m.tpot_s, "e2e": m.e2e_s,
              "itl": percentile_block(itl_per_chunk_s(frame)) if itl == "chunk" else m.tbt_s}
    for name, block in blocks.items():
        for stat in ("mean", "p50", "p90", "p99"):
            value = block.get(stat)
            if value is not None and math.isfinite(value):
                out[f"{name}_{stat}_ms"] = 1000.0 * float(value)
    for key, value in (("throughput_rps", m.throughput_rps), ("output_tok_s", m.output_tok_s),
                       ("n_ok", m.n_ok), ("n_failed", m.n_failed),
                       ("duration_s", m.duration_s)):
        if value is not None and math.isfinite(float(value)):
            out[key] = float(value)
    return out
