"""Why greenllm's client and ``vllm bench serve`` disagree on latency: arms A/B'd on one server.

Each *arm* sends the same load (workload, rate, count, Poisson arrivals drawn as vLLM
draws them) to one running vLLM server; arms run in interleaved rounds (the order turns
every round, so drift falls on all arms alike). Arms:

* ``ids``        greenllm's client, prompts as token ids (greenllm's default before 2026-12-04)
* ``text``       greenllm's client, the same tokens as text (the server tokenizes them)
* ``text_plain`` as ``text``, without greenllm's extra request fields (``return_token_ids``,
                 ``min_tokens``): the exact body ``vllm bench serve`` sends
* ``vllm``       ``vllm bench serve`` itself (random dataset, text prompts), run
                 in-process so its import does not cost every round a minute

Around every run the server's ``/metrics`` is read, so each run also carries the engine's
own mean TTFT/ITL/TPOT over the same requests (``greenllm.analysis.latency_gap``): the
client's TTFT minus the engine's is the time spent outside the engine (HTTP, API server,
tokenization, client).

    python benchmarks/latency_gap.py run --base-url URL --model NAME --tokenizer DIR \\
        --workload M-M --rates 7.9,auto70 -n 120 --rounds 5 --out DIR [--deadline-s 480]
    python benchmarks/latency_gap.py report DIR/runs*.json [--reference vllm] [--md F]

``auto70`` is 70 % of the highest rate the server sustains, measured first
(``measure_capacity``: a burst of --capacity-n requests for its throughput, then a ladder
of falling fractions of it until a run shows no growing queue; text prompts). A burst's
own throughput overstates capacity: 70 % of it overloaded the H200 (docs/load.md).
Every run is saved as it ends (``DIR/runs.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a source tree without installing

from greenllm.analysis.compare import (  # noqa: E402
    greenllm_metrics_from_frame,
    parse_vllm_bench_result,
    vllm_bench_argv,
)
from greenllm.analysis.latency_gap import (  # noqa: E402
    arm_table,
    format_table,
    histogram_means_ms,
    with_server_view,
)
from greenllm.atomic import write_json, write_text  # noqa: E402
from greenllm.engine.server_metrics import metrics_url  # noqa: E402
from greenllm.load.arrivals import vllm_bench_offsets_s  # noqa: E402
from greenllm.load.client import records_to_frame, run_requests_sync  # noqa: E402
from greenllm.load.sustained import LADDER, check_sustained, sustained_capacity  # noqa: E402
from greenllm.load.workloads import workload_from  # noqa: E402

ARMS = ("ids", "text", "text_plain", "vllm")
Arm = Callable[[float, int, int], dict[str, float]]


def scrape(base_url: str) -> str:
    with urllib.request.urlopen(metrics_url(base_url), timeout=10) as resp:
        return resp.read().decode("utf-8", errors="replace")


def greenllm_frame(base_url: str, model: str, workload: str, *, prompt_format: str,
                   plain: bool) -> Callable[[float, int, int], pd.DataFrame]:
    """One run of greenllm's client: its per-request frame (``records_to_frame``)."""
    def run(rate: float, n: int, seed: int) -> pd.DataFrame:
        offsets = vllm_bench_offsets_s(rate, n, seed) if rate > 0 else [0.0] * n
        # "chunks": one token per streamed chunk with a choice, vLLM's own view.
        records = run_requests_sync(
            base_url, model, workload_from(workload), offsets, seed=seed, timeout_s=300,
            tokens_per_chunk="chunks", request_id_prefix=f"gap{seed}-",
            prompt_format=prompt_format, request_token_ids=not plain,
            # min_tokens 0 is vLLM's default: no min-tokens logits processor, as in vLLM's body
            extra_body={"repetition_penalty": 1.0, "min_tokens": 0} if plain else None)
        return records_to_frame(records)
    return run


def greenllm_arm(base_url: str, model: str, workload: str, *, prompt_format: str,
                 plain: bool) -> Arm:
    frame_of = greenllm_frame(base_url, model, workload, prompt_format=prompt_format,
                              plain=plain)

    def run(rate: float, n: int, seed: int) -> dict[str, float]:
        frame = frame_of(rate, n, seed)
        out = greenllm_metrics_from_frame(frame, itl="chunk")
        lateness = frame["lateness_s"].dropna()
        if len(lateness):
            out["send_lateness_p50_ms"] = 1000.0 * float(lateness.median())
            out["send_lateness_p99_ms"] = 1000.0 * float(lateness.quantile(0.99))
        return out
    return run


def vllm_arm(base_url: str, model: str, workload: str, tokenizer: str, result_dir: Path) -> Arm:
    """``vllm bench serve``'s own ``main`` called in this process (imported once)."""
    from vllm.benchmarks.serve import add_cli_args
    from vllm.benchmarks.serve import main as bench_main
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    wl = workload_from(workload)
    result_dir.mkdir(parents=True, exist_ok=True)

    def run(rate: float, n: int, seed: int) -> dict[str, float]:
        name = f"bench-r{rate:g}-n{n}-s{seed}-{time.time_ns()}.json"
        argv = vllm_bench_argv(
            base_url=base_url, model=model, input_tokens=wl.input_tokens,
            output_tokens=wl.output_tokens, rate_rps=rate if rate > 0 else float("inf"),
            n_requests=n, seed=seed, result_dir=result_dir, result_filename=name,
            tokenizer=tokenizer, vllm="vllm")[3:]  # drop "vllm bench serve"
        parser = FlexibleArgumentParser()
        add_cli_args(parser)
        bench_main(parser.parse_args(argv))
        return parse_vllm_bench_result(result_dir / name)
    return run


def make_arms(a: argparse.Namespace, out: Path) -> dict[str, Arm]:
    arms: dict[str, Arm] = {}
    for name in a.arms.split(","):
        if name == "ids":
            arms[name] = greenllm_arm(a.base_url, a.model, a.workload,
                                      prompt_format="token_ids", plain=False)
        elif name == "text":
            arms[name] = greenllm_arm(a.base_url, a.model, a.workload,
                                      prompt_format="text", plain=False)
        elif name == "text_plain":
            arms[name] = greenllm_arm(a.base_url, a.model, a.workload,
                                      prompt_format="text", plain=True)
        elif name == "vllm":
            arms[name] = vllm_arm(a.base_url, a.model, a.workload, a.tokenizer,
                                  out / "vllm-bench-results")
        else:
            raise SystemExit(f"unknown arm {name!r} (known: {', '.join(ARMS)})")
    return arms


def measured_run(arm: Arm, base_url: str, rate: float, n: int, seed: int) -> dict[str, float]:
    before = scrape(base_url)
    client = arm(rate, n, seed)
    time.sleep(0.5)  # the engine's histograms are updated as its output is processed
    return with_server_view(client, histogram_means_ms(before, scrape(base_url)))


def measure_capacity(a: argparse.Namespace, save: Callable[..., None]) -> float:
    """The highest rate the server sustains (``greenllm.load.sustained``): a burst of
    --capacity-n requests gives its throughput, then runs of --min-duration-s at falling
    fractions of it until one shows no growing queue. Every run is saved (kind
    ``capacity``: the burst, ``sustain``: the ladder's probes with their check)."""
    frame_of = greenllm_frame(a.base_url, a.model, a.workload, prompt_format="text",
                              plain=False)
    burst = greenllm_metrics_from_frame(frame_of(0.0, a.capacity_n, 10_000), itl="chunk")
    save("capacity", "text", 0.0, -1, 10_000, burst, a.capacity_n)
    print(f"burst of {a.capacity_n}: {burst['throughput_rps']:.2f} req/s", flush=True)

    def run_at(rate: float) -> pd.DataFrame:
        n = max(a.n, int(round(rate * a.min_duration_s)))
        frame = frame_of(rate, n, 10_001)
        metrics = greenllm_metrics_from_frame(frame, itl="chunk")
        check = check_sustained(frame, rate)
        save("sustain", "text", rate, -1, 10_001, {**metrics, **check.as_dict()}, n)
        print(f"  {rate:g} req/s: {check.reason}", flush=True)
        return frame

    rate, _ = sustained_capacity(run_at, burst["throughput_rps"])
    if rate is None:
        raise SystemExit(f"no rate down to {min(LADDER):.0%} of the burst's "
                         f"{burst['throughput_rps']:.2f} req/s was sustained: pass --rates")
    return rate


def main_run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="latency_gap.py run")
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True, help="served model name")
    p.add_argument("--tokenizer", required=True, help="the model folder (for vllm bench)")
    p.add_argument("--workload", default="M-M")
    p.add_argument("--rates", default="7.9,auto70",
                   help="req/s, comma separated; autoNN = NN %% of the sustained rate")
    p.add_argument("-n", type=int, default=120, help="requests per run (at least)")
    p.add_argument("--min-duration-s", type=float, default=15.0,
                   help="more requests where n would send for less than this")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--capacity-n", type=int, default=400)
    p.add_argument("--deadline-s", type=float, default=1e9,
                   help="start no run after this many seconds (all finished runs kept)")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    t_start = time.monotonic()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    arms = make_arms(a, out)
    runs: list[dict[str, Any]] = []
    path = out / "runs.json"

    def save(kind: str, arm: str, rate: float, rnd: int, seed: int, metrics: dict,
             n: int) -> None:
        runs.append({"kind": kind, "arm": arm, "rate": rate, "round": rnd, "seed": seed,
                     "workload": a.workload, "n": n, "metrics": metrics})
        write_json(path, runs)

    rates: list[float] = []
    capacity: float | None = None
    for item in a.rates.split(","):
        if item.startswith("auto"):
            if capacity is None:
                capacity = measure_capacity(a, save)
            rate = round(capacity * float(item[4:]) / 100.0, 2)
            print(f"sustained {capacity:.2f} req/s -> {item} = {rate} req/s", flush=True)
            rates.append(rate)
        else:
            rates.append(float(item))
    names = list(arms)
    for rate in rates:
        n = max(a.n, int(round(rate * a.min_duration_s)))
        for rnd in range(a.rounds):
            k = rnd % len(names)
            order = names[k:] + names[:k]
            if rnd % 2:
                order.reverse()
            for name in order:
                if time.monotonic() - t_start > a.deadline_s:
                    print(f"deadline: stopping before rate {rate} round {rnd} {name}")
                    return 0
                t0 = time.monotonic()
                metrics = measured_run(arms[name], a.base_url, rate, n, rnd)
                save("gap", name, rate, rnd, rnd, metrics, n)
                print(f"rate {rate:g} round {rnd} {name:10s} {time.monotonic() - t0:5.1f} s  "
                      f"ttft p50 {metrics.get('ttft_p50_ms', float('nan')):6.2f}  "
                      f"server ttft {metrics.get('server_ttft_mean_ms', float('nan')):6.2f}  "
                      f"tpot p50 {metrics.get('tpot_p50_ms', float('nan')):5.2f}  "
                      f"itl p50 {metrics.get('itl_p50_ms', float('nan')):5.2f}", flush=True)
    return 0


def main_report(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="latency_gap.py report")
    p.add_argument("runs", nargs="+", help="runs.json files")
    p.add_argument("--reference", default="vllm")
    p.add_argument("--md", help="also write the table here")
    a = p.parse_args(argv)
    runs = [r for f in a.runs for r in json.loads(Path(f).read_text()) if r["kind"] == "gap"]
    table = format_table(arm_table(runs, a.reference), a.reference)
    print(table)
    if a.md:
        write_text(Path(a.md), table + "\n")
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "run":
        return main_run(argv[1:])
    if argv and argv[0] == "report":
        return main_report(argv[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
