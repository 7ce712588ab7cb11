#!/usr/bin/env python
"""Cost of the telemetry sampler: sample rate, CPU time per sample, workload slowdown.

    python benchmarks/sampler_bench.py                    # SimGpu (no GPU needed)
    python benchmarks/sampler_bench.py --backend nvml     # real GPUs, read-only

Prints (1) the achieved sample rate and CPU time per tick / per GPU sample of
``TelemetrySampler`` at ``--period-s``; (2) the latency of one ``Gpu.sample`` call;
(3) the throughput of a fixed workload with and without the sampler running, runs
interleaved (off, on, off, on, ...) and compared by median: a pure-Python loop (what the
sampler's GIL share costs the in-process load generator) and, with ``--backend nvml`` and
torch with CUDA, a bf16 matmul loop on the first selected GPU. Goal: <= 0.5 % slowdown.

Read-only on real GPUs: this script never locks, resets or otherwise sets clocks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from greenllm.gpu import Gpu, SimGpu, TelemetrySampler, open_gpus
from greenllm.gpu.selection import parse_selectors


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sampler_cost(gpu: Gpu, period_s: float, duration_s: float) -> None:
    sampler = TelemetrySampler(gpu, period_s=period_s)
    with sampler:
        time.sleep(duration_s)
    n_gpus = len(gpu.indices)
    print(f"sampler: period {period_s * 1e3:.1f} ms requested, {sampler.achieved_period_s * 1e3:.2f} ms achieved "
          f"({1 / sampler.achieved_period_s:.1f} ticks/s, {sampler.n_ticks} ticks, {n_gpus} GPU(s))")
    print(f"sampler: CPU {sampler.cpu_s_per_tick * 1e6:.0f} us per tick, "
          f"{sampler.cpu_s_per_tick / n_gpus * 1e6:.0f} us per GPU sample, "
          f"{sampler.cpu_s_per_tick / period_s * 100:.2f} % of one core")
    index = gpu.indices[0]
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        gpu.sample(index)
    print(f"Gpu.sample: {(time.perf_counter() - t0) / n * 1e6:.0f} us per call (wall, one GPU)")


def compare(name: str, run_once: Callable[[], float], gpu: Gpu, period_s: float, repeats: int) -> None:
    """run_once() -> work units per second; interleave without/with the sampler."""
    off: list[float] = []
    on: list[float] = []
    for r in range(repeats):
        off.append(run_once())
        with TelemetrySampler(gpu, period_s=period_s):
            on.append(run_once())
        log(f"{name}: repeat {r + 1}/{repeats}: off {off[-1]:.4g}/s, on {on[-1]:.4g}/s")
    m_off, m_on = statistics.median(off), statistics.median(on)
    spread = (max(off) - min(off)) / m_off * 100
    print(f"{name}: median {m_off:.4g}/s without sampler, {m_on:.4g}/s with "
          f"({(m_on - m_off) / m_off * 100:+.2f} %; run-to-run spread without: {spread:.2f} %; goal >= -0.5 %)")


def python_loop(seconds: float) -> Callable[[], float]:
    def run() -> float:
        n, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            for _ in range(1000):
                n += 1
        return n / seconds
    return run


def torch_matmul(device_index: int, seconds: float, size: int) -> Callable[[], float] | None:
    try:
        import torch
    except ImportError:
        log("torch not importable: GPU workload skipped")
        return None
    if not torch.cuda.is_available():
        log("torch has no CUDA device: GPU workload skipped")
        return None
    dev = torch.device("cuda", device_index)
    a = torch.randn(size, size, device=dev, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=dev, dtype=torch.bfloat16)
    for _ in range(20):
        a @ b
    torch.cuda.synchronize(dev)

    def run() -> float:
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                a @ b
            torch.cuda.synchronize(dev)
            n += 50
        return n * 2 * size**3 / (time.perf_counter() - start) / 1e12  # TFLOP/s
    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("sim", "nvml"), default="sim")
    p.add_argument("--gpus", default=None, help="GPU selectors (nvml), comma separated")
    p.add_argument("--sim-count", type=int, default=1, help="simulated GPUs (sim)")
    p.add_argument("--period-s", type=float, default=0.02)
    p.add_argument("--duration-s", type=float, default=3.0, help="sampler-cost run length")
    p.add_argument("--workload-s", type=float, default=5.0, help="length of each workload run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--matmul-n", type=int, default=8192)
    p.add_argument("--skip-python-loop", action="store_true")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="greenllm-bench-") as tmp:
        if args.backend == "sim":
            gpu: Gpu = SimGpu.create(Path(tmp) / "state", args.sim_count)
        else:
            gpu = open_gpus("nvml", parse_selectors(args.gpus))
        with gpu:
            print(f"backend {args.backend}: {', '.join(f'{i}: {gpu.info(i).name}' for i in gpu.indices)}")
            sampler_cost(gpu, args.period_s, args.duration_s)
            if not args.skip_python_loop:
                compare("python loop (GIL share)", python_loop(args.workload_s), gpu, args.period_s, args.repeats)
            if args.backend == "nvml":
                # torch numbers CUDA devices after CUDA_VISIBLE_DEVICES: the first selected GPU
                # is CUDA device 0 when the selection is CUDA_VISIBLE_DEVICES-relative.
                first = (parse_selectors(args.gpus) or [0])[0]
                position = first if isinstance(first, int) else 0
                run = torch_matmul(position, args.workload_s, args.matmul_n)
                if run is not None:
                    compare("bf16 matmul TFLOP/s", run, gpu, args.period_s, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
