"""Compare two measurement procedures by interleaved repeats: A B A B … for k rounds.

Two shell commands, each printing a JSON dict of metrics on its last stdout line (``{round}``
in a command becomes the round's index, e.g. to vary a seed):

    python benchmarks/compare_ab.py --a '<cmd A>' --b '<cmd B>' --rounds 5 [--order ABBA]
        [--tolerance 0.05] [--metrics ttft_p50_ms,itl_p50_ms] [--json report.json]
        [--deadline-s 400]

prints per metric the median of A and of B, B/A with its 95 % bootstrap interval, each
side's min–max range, and a verdict (same / differs, and whether the gap exceeds the
spread). Exit status 0 when every compared metric is within the tolerance, 1 otherwise.

Ready-made sides (one run each, printing the JSON line), for greenllm's client vs
``vllm bench serve`` on the same running server:

    python benchmarks/compare_ab.py greenllm --base-url URL --model M --workload M-M \\
        --rate 8 -n 200 --seed {round} [--itl chunk|spread] [--sampler-period-ms 20]
    python benchmarks/compare_ab.py vllm-bench --base-url URL --model M --workload M-M \\
        --rate 8 -n 200 --seed {round} [--tokenizer DIR] [--vllm 'vllm']

Rounds of several comparisons (e.g. one per time-boxed machine), pooled per round:

    python benchmarks/compare_ab.py pool a.runs.json b.runs.json [--metrics …]

See docs/uncertainty.md ("A/B comparisons") for a full GPU-box recipe.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a source tree without installing

from greenllm.analysis.compare import DEFAULT_TOLERANCE  # noqa: E402
from greenllm.atomic import write_json  # noqa: E402
from greenllm.compare.runner import (  # noqa: E402
    ORDERS,
    command_runner,
    print_json_line,
    run_ab,
)
from greenllm.errors import GreenllmError  # noqa: E402

COMPARED_BY_DEFAULT = ("ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "itl_p50_ms", "itl_p99_ms",
                       "e2e_p50_ms", "throughput_rps", "output_tok_s")


def _side_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True, help="served model name")
    p.add_argument("--workload", default="M-M", help="paper id (S-S … L-L)")
    p.add_argument("--rate", type=float, required=True, help="req/s (Poisson)")
    p.add_argument("-n", type=int, default=200, help="requests")
    p.add_argument("--seed", type=int, default=0)
    return p


def main_greenllm(argv: list[str]) -> int:
    from greenllm.compare.adapters import greenllm_client_metrics

    p = _side_parser("compare_ab.py greenllm")
    p.add_argument("--itl", choices=("chunk", "spread"), default="chunk",
                   help="chunk: vLLM's per-chunk ITL (default); spread: greenllm's TBT")
    p.add_argument("--arrivals", choices=("vllm", "greenllm"), default="vllm",
                   help="vllm: send times drawn as vllm bench serve draws them, the last at "
                   "exactly n/rate (default, the same load); greenllm: gaps as drawn")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--sampler-period-ms", type=float, default=0.0,
                   help="also run greenllm's telemetry sampler (NVML) at this period during "
                   "the load, as a measure run does (0: off, the default); adds the "
                   "sampler's cost and the window's energy (counter vs integral)")
    p.add_argument("--gpus", default=None,
                   help="GPU selectors the sampler reads, comma separated (default: all)")
    a = p.parse_args(argv)
    run = lambda: greenllm_client_metrics(a.base_url, a.model, a.workload, a.rate,  # noqa: E731
                                          a.n, a.seed, itl=a.itl, timeout_s=a.timeout,
                                          arrivals=a.arrivals)
    if a.sampler_period_ms > 0:
        from greenllm.compare.adapters import with_telemetry
        from greenllm.gpu.factory import open_gpus

        gpus = a.gpus.split(",") if a.gpus else None
        print_json_line(with_telemetry(run, open_gpus("nvml", gpus),
                                       period_s=a.sampler_period_ms / 1000.0))
    else:
        print_json_line(run())
    return 0


def main_vllm(argv: list[str]) -> int:
    from greenllm.compare.adapters import vllm_bench_metrics

    p = _side_parser("compare_ab.py vllm-bench")
    p.add_argument("--tokenizer", help="tokenizer folder (default: the server's model)")
    p.add_argument("--vllm", default="vllm", help="the vllm command")
    p.add_argument("--result-dir", help="keep vLLM's result JSONs here")
    a, extra = p.parse_known_args(argv)
    print_json_line(vllm_bench_metrics(a.base_url, a.model, a.workload, a.rate, a.n, a.seed,
                                       tokenizer=a.tokenizer, vllm=a.vllm, extra_args=extra,
                                       result_dir=a.result_dir))
    return 0


def main_ab(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="compare_ab.py", description=__doc__.split("\n")[0])
    p.add_argument("--a", required=True, help="shell command A (prints a JSON dict last)")
    p.add_argument("--b", required=True, help="shell command B")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--order", choices=ORDERS, default="ABAB")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    p.add_argument("--label-a", default="A")
    p.add_argument("--label-b", default="B")
    p.add_argument("--metrics", help="comma-separated metrics to judge (default: the usual "
                   "latency and throughput ones that both sides report)")
    p.add_argument("--json", help="write the full report (every round's values) here")
    p.add_argument("--timeout", type=float, default=3600.0, help="per command, seconds")
    p.add_argument("--deadline-s", type=float, default=None,
                   help="start no round after this many seconds; report the rounds done")
    a = p.parse_args(argv)

    def progress(msg: str) -> None:
        print(f"compare_ab: {msg}", file=sys.stderr, flush=True)

    done_runs: list[dict] = []

    def save_run(side: str, k: int, metrics: dict) -> None:
        # Every run is kept as it ends (<json>.runs.json), so a killed comparison
        # loses nothing already measured.
        done_runs.append({"side": side, "round": k, "metrics": metrics})
        if a.json:
            write_json(Path(a.json).with_suffix(".runs.json"), done_runs)

    report = run_ab(command_runner(a.a, timeout_s=a.timeout),
                    command_runner(a.b, timeout_s=a.timeout), a.rounds, order=a.order,
                    tolerance=a.tolerance, label_a=a.label_a, label_b=a.label_b,
                    progress=progress, on_run=save_run, deadline_s=a.deadline_s)
    print(report.to_text())
    if a.json:
        write_json(a.json, report.to_dict())
    names = a.metrics.split(",") if a.metrics else [m for m in COMPARED_BY_DEFAULT
                                                    if m in report.metrics]
    judged = names or list(report.metrics)
    ok = report.all_within_tolerance(judged)
    print(f"\n{'PASS' if ok else 'FAIL'}: medians of {', '.join(judged)} "
          f"{'all' if ok else 'not all'} within ±{a.tolerance:.0%}")
    return 0 if ok else 1


def main_pool(argv: list[str]) -> int:
    import numpy as np

    from greenllm.analysis.compare import paired_ratios
    from greenllm.analysis.uncertainty import median_ci

    p = argparse.ArgumentParser(prog="compare_ab.py pool", description="B/A per round, "
                                "pooled over several comparisons' <report>.runs.json")
    p.add_argument("runs", nargs="+", help="<report>.runs.json files")
    p.add_argument("--metrics", help="comma-separated metrics (default: the usual ones)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    a = p.parse_args(argv)
    logs = []
    for path in a.runs:
        try:
            logs.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as exc:
            raise GreenllmError(f"cannot read {path}: {exc}") from exc
    ratios = paired_ratios(logs)
    names = a.metrics.split(",") if a.metrics else [m for m in COMPARED_BY_DEFAULT if m in ratios]
    ok = True
    print(f"{'metric':16s} {'rounds':>6s} {'median B/A':>10s} {'95% CI':>13s}  within ±{a.tolerance:.0%}")
    for name in names:
        r = ratios.get(name)
        if not r:
            raise GreenllmError(f"no round has {name!r} on both sides")
        med = float(np.median(r))
        lo, hi = median_ci(r)
        within = abs(med - 1) <= a.tolerance
        ok &= within
        print(f"{name:16s} {len(r):6d} {med:10.3f} {lo:6.3f}–{hi:<6.3f}  {'yes' if within else 'no'}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and argv[0] == "greenllm":
            return main_greenllm(argv[1:])
        if argv and argv[0] == "vllm-bench":
            return main_vllm(argv[1:])
        if argv and argv[0] == "pool":
            return main_pool(argv[1:])
        return main_ab(argv)
    except GreenllmError as exc:
        print(f"compare_ab: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
