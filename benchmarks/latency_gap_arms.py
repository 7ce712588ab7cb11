"""The arms of ``benchmarks/latency_gap.py``: what each sends, and how it is run.

An arm is a function (rate req/s, request count, seed) -> the client's metrics under
vLLM's definitions, plus its requests' own latencies under ``per_request`` (``ttft_ms``,
``tpot_ms``, ``e2e_ms`` lists: what ``greenllm.analysis.pooled_quantiles`` pools over
rounds; the benchmark saves them beside the metrics, not in them). ``make_arms`` builds
them by name; the module doc of ``latency_gap.py`` says what each name means.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a source tree without installing

from greenllm.analysis.compare import (  # noqa: E402
    greenllm_metrics_from_frame,
    greenllm_request_latencies_ms,
    parse_vllm_bench_result,
    vllm_bench_argv,
    vllm_request_latencies_ms,
)
from greenllm.atomic import write_json  # noqa: E402
from greenllm.engine.server_metrics import metrics_url  # noqa: E402
from greenllm.load.arrivals import vllm_bench_offsets_s  # noqa: E402
from greenllm.load.client import records_to_frame, run_requests_sync  # noqa: E402
from greenllm.load.metrics import compute_metrics  # noqa: E402
from greenllm.load.sustained import check_sustained  # noqa: E402
from greenllm.load.workloads import workload_from  # noqa: E402

ARMS = ("ids", "text", "text_lean", "text_plain", "vllm")
GREENLLM_ARMS = ("ids", "text", "text_lean", "text_plain")
Arm = Callable[[float, int, int], dict[str, float]]


def scrape(base_url: str) -> str:
    with urllib.request.urlopen(metrics_url(base_url), timeout=10) as resp:
        return resp.read().decode("utf-8", errors="replace")


def greenllm_frame(base_url: str, model: str, workload: str, *, prompt_format: str,
                   plain: bool, trust_env: bool = True
                   ) -> Callable[[float, int, int], pd.DataFrame]:
    """One run of greenllm's client: its per-request frame (``records_to_frame``)."""
    def run(rate: float, n: int, seed: int) -> pd.DataFrame:
        offsets = vllm_bench_offsets_s(rate, n, seed) if rate > 0 else [0.0] * n
        # "chunks": one token per streamed chunk with a choice, vLLM's own view.
        records = run_requests_sync(
            base_url, model, workload_from(workload), offsets, seed=seed, timeout_s=300,
            tokens_per_chunk="chunks", request_id_prefix=f"gap{seed}-",
            prompt_format=prompt_format, request_token_ids=not plain, trust_env=trust_env,
            # min_tokens 0 is vLLM's default: no min-tokens logits processor, as in vLLM's body
            extra_body={"repetition_penalty": 1.0, "min_tokens": 0} if plain else None)
        return records_to_frame(records)
    return run


def greenllm_arm(base_url: str, model: str, workload: str, *, prompt_format: str,
                 plain: bool, trust_env: bool = True) -> Arm:
    frame_of = greenllm_frame(base_url, model, workload, prompt_format=prompt_format,
                              plain=plain, trust_env=trust_env)

    def run(rate: float, n: int, seed: int) -> dict[str, float]:
        frame = frame_of(rate, n, seed)
        metrics = compute_metrics(frame)
        out = greenllm_metrics_from_frame(frame, itl="chunk", metrics=metrics)
        out.update(wall_span(frame))
        out["per_request"] = _rounded(greenllm_request_latencies_ms(frame, metrics=metrics))
        # Whether this run kept up (no growing queue): what a paired capacity ladder reads.
        check = check_sustained(frame, rate)
        out.update(sustained=float(check.sustained), sustain_reason=check.reason)
        lateness = frame["lateness_s"].dropna()
        if len(lateness):
            out["send_lateness_p50_ms"] = 1000.0 * float(lateness.median())
            out["send_lateness_p99_ms"] = 1000.0 * float(lateness.quantile(0.99))
        return out
    return run


def wall_span(frame: pd.DataFrame) -> dict[str, float]:
    """First send and last response of a run in wall-clock seconds (``time.time()``):
    comparable between processes, so paired arms can show that they overlapped."""
    send = frame["send_wall_s"].dropna()
    last = (frame["send_wall_s"] + frame["end_s"] - frame["send_s"]).dropna()
    if send.empty or last.empty:
        return {}
    return {"wall_first_send_s": float(send.min()), "wall_last_end_s": float(last.max())}


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
            tokenizer=tokenizer, vllm="vllm",
            extra_args=["--save-detailed"])[3:]  # drop "vllm bench serve"
        parser = FlexibleArgumentParser()
        add_cli_args(parser)
        t0 = time.time()
        bench_main(parser.parse_args(argv))
        t1 = time.time()
        # vllm bench serve's result has no per-request wall times: its whole call
        # (dataset, a test prompt, the run) brackets the run.
        result = json.loads((result_dir / name).read_text())
        per_request = _rounded(vllm_request_latencies_ms(result))
        # The texts and per-token ITLs are most of the file and are not needed again.
        write_json(result_dir / name, {k: v for k, v in result.items()
                                       if k not in ("generated_texts", "itls")})
        return {**parse_vllm_bench_result(result), "wall_first_send_s": t0,
                "wall_last_end_s": t1, "per_request": per_request}
    return run


def _rounded(lists: dict[str, list[float]]) -> dict[str, list[float]]:
    """Microsecond resolution: enough for latencies, a third of the JSON."""
    return {k: [round(v, 3) if v == v else None for v in values]  # NaN -> null in JSON
            for k, values in lists.items()}


def make_arms(a: argparse.Namespace, out: Path) -> dict[str, Arm]:
    arms: dict[str, Arm] = {}
    for name in a.arms.split(","):
        if name == "ids":
            arms[name] = greenllm_arm(a.base_url, a.model, a.workload,
                                      prompt_format="token_ids", plain=False)
        elif name == "text":
            arms[name] = greenllm_arm(a.base_url, a.model, a.workload,
                                      prompt_format="text", plain=False)
        elif name == "text_lean":
            arms[name] = greenllm_arm(a.base_url, a.model, a.workload,
                                      prompt_format="text", plain=False, trust_env=False)
        elif name == "text_plain":
            arms[name] = greenllm_arm(a.base_url, a.model, a.workload,
                                      prompt_format="text", plain=True)
        elif name == "vllm":
            arms[name] = vllm_arm(a.base_url, a.model, a.workload, a.tokenizer,
                                  out / "vllm-bench-results")
        else:
            raise SystemExit(f"unknown arm {name!r} (known: {', '.join(ARMS)})")
    return arms
