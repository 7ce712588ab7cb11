"""Ready-made A/B runners: one greenllm client run, one ``vllm bench serve`` run.

They talk to a server, so they live here, not in ``analysis`` (which reads files only);
they exist so that both sides of ``benchmarks/compare_ab.py`` send the same load and report the same
metrics under the same definitions (``compare.parse_vllm_bench_result`` and
``compare.greenllm_metrics_from_frame``). Each returns a flat dict of numbers.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from greenllm.analysis.compare import (
    Metrics,
    greenllm_metrics_from_frame,
    parse_vllm_bench_result,
    vllm_bench_argv,
)
from greenllm.errors import ConfigError, GreenllmError
from greenllm.gpu.base import Gpu


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def greenllm_client_metrics(
    base_url: str,
    model: str,
    workload: Any,
    rate: float,
    n: int,
    seed: int,
    *,
    itl: str = "chunk",
    process: str = "poisson",
    arrivals: str = "vllm",
    timeout_s: float = 600.0,
    tokens_per_chunk: str | None = None,
    vocab_size: int = 32000,
) -> Metrics:
    """One run of greenllm's client: ``n`` requests of ``workload`` at ``rate`` req/s.

    ``itl="chunk"`` reports vLLM's per-chunk ITL and, unless ``tokens_per_chunk`` is
    given, counts one token per streamed chunk as ``vllm bench serve`` does (its TTFT is
    then the first chunk with a choice, like vLLM's); ``itl="spread"`` reports greenllm's
    TBT (a chunk's gap spread over its tokens) as ``itl_*``. ``arrivals="vllm"`` (the
    default) draws send times as ``vllm bench serve`` does (last request at exactly
    n/rate), ``"greenllm"`` as greenllm's own runs do (``process``, gaps as drawn).
    """
    from greenllm.load.arrivals import arrival_offsets_s, vllm_bench_offsets_s
    from greenllm.load.client import records_to_frame, run_requests_sync
    from greenllm.load.workloads import workload_from

    _positive_int("n", n)
    if itl not in ("chunk", "spread"):
        raise ConfigError(f"itl must be 'chunk' or 'spread', got {itl!r}")
    counting = tokens_per_chunk or ("chunks" if itl == "chunk" else "auto")
    wl = workload_from(workload)
    if arrivals == "vllm":
        offsets = vllm_bench_offsets_s(float(rate), n, int(seed))
    elif arrivals == "greenllm":
        offsets = arrival_offsets_s(process, float(rate), n, int(seed))
    else:
        raise ConfigError(f"arrivals must be 'vllm' or 'greenllm', got {arrivals!r}")
    records = run_requests_sync(base_url, model, wl, offsets, seed=int(seed),
                                timeout_s=timeout_s, tokens_per_chunk=counting,
                                vocab_size=vocab_size, request_id_prefix=f"ab{seed}-")
    return greenllm_metrics_from_frame(records_to_frame(records), itl=itl)


def with_telemetry(run: Callable[[], Metrics], gpu: Gpu, *, period_s: float = 0.02) -> Metrics:
    """``run()``'s metrics, with greenllm's telemetry sampler running around it as in a
    measure run; adds the sampler's cost and the run's energy (counter delta, instant-power
    integral and their disagreement), to measure what sampling costs the engine."""
    from greenllm.gpu.telemetry import TelemetrySampler, window_energy

    sampler = TelemetrySampler(gpu, period_s=period_s)
    with sampler:
        t0 = time.monotonic()
        out = dict(run())
        t1 = time.monotonic()
    energy = window_energy(sampler.frame(), t0, t1)
    out.update(sampler_ticks=float(sampler.n_ticks),
               sampler_period_ms=1000.0 * sampler.achieved_period_s,
               sampler_cpu_ms_per_tick=1000.0 * sampler.cpu_s_per_tick,
               energy_j=energy.energy_j, energy_integral_j=energy.energy_integral_j,
               energy_disagreement=energy.disagreement, power_mean_w=energy.power_mean_w)
    return out


def vllm_bench_metrics(
    base_url: str,
    model: str,
    workload: Any,
    rate: float,
    n: int,
    seed: int,
    *,
    tokenizer: str | None = None,
    vllm: str = "vllm",
    backend: str = "vllm",
    extra_args: Sequence[str] = (),
    result_dir: str | Path | None = None,
    timeout_s: float = 3600.0,
    env: Mapping[str, str] | None = None,
) -> Metrics:
    """One ``vllm bench serve`` run with the same load, its saved JSON parsed.

    ``vllm`` is the command (e.g. ``"python -m vllm.entrypoints.cli.main"``); results go
    to ``result_dir`` (kept) or a temporary folder.
    """
    from greenllm.load.workloads import workload_from

    _positive_int("n", n)
    wl = workload_from(workload)
    with tempfile.TemporaryDirectory(prefix="vllm-bench-") as tmp:
        folder = Path(result_dir) if result_dir else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"bench-r{float(rate):g}-n{n}-s{seed}.json"
        argv = vllm_bench_argv(
            base_url=base_url, model=model, input_tokens=wl.input_tokens,
            output_tokens=wl.output_tokens, rate_rps=rate, n_requests=n, seed=seed,
            result_dir=folder, result_filename=name, tokenizer=tokenizer, vllm=vllm,
            backend=backend, extra_args=extra_args)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                  env=None if env is None else dict(env))
        except FileNotFoundError as exc:
            raise GreenllmError(f"cannot run {argv[0]!r}: is vLLM installed here?") from exc
        except subprocess.TimeoutExpired as exc:
            raise GreenllmError(f"vllm bench serve timed out after {timeout_s:g} s") from exc
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no stderr"])[-1][:200]
            raise GreenllmError(f"vllm bench serve exited {done.returncode}: {tail}")
        path = folder / name
        if not path.is_file():
            raise GreenllmError(f"vllm bench serve wrote no result at {path}")
        return parse_vllm_bench_result(path)
