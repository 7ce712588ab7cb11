#!/usr/bin/env python
"""Telemetry under a real GPU load: energy counter vs instant-power integral.

    python benchmarks/telemetry_under_load.py --duration-s 30 --out telemetry.parquet

Runs the TelemetrySampler (default 20 ms) while a torch workload cycles through phases
(bf16 matmul bursts that reach the power cap, memory copies, idle gaps) on the first
visible GPU, then prints, for the whole run and for each 1 s and 5 s window, the energy
from NVML's counter (the reference) against the integral of the instant-power field, and
their disagreement. Read-only: it never sets clocks or limits. Needs torch with CUDA.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from greenllm.gpu import TelemetrySampler, open_gpus, window_energy  # noqa: E402


def gpu_load(duration_s: float) -> None:
    import torch

    dev = torch.device("cuda", 0)
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    big = torch.empty(2 * 1024**3 // 2, device=dev, dtype=torch.bfloat16)
    dst = torch.empty_like(big)
    end = time.monotonic() + duration_s
    phase = 0
    while time.monotonic() < end:
        kind = ("matmul", "copy", "idle")[phase % 3]
        t_phase = time.monotonic() + (2.0 if kind != "idle" else 1.0)
        while time.monotonic() < min(t_phase, end):
            if kind == "matmul":
                for _ in range(20):
                    a @ b
            elif kind == "copy":
                for _ in range(5):
                    dst.copy_(big)
            else:
                time.sleep(0.05)
            torch.cuda.synchronize()
        phase += 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration-s", type=float, default=30.0)
    p.add_argument("--period-s", type=float, default=0.02)
    p.add_argument("--out", type=Path, default=None, help="write the telemetry as parquet")
    args = p.parse_args()
    gpu = open_gpus("nvml", [0])
    info = gpu.info(gpu.indices[0])
    print(f"GPU: {info.name} ({info.uuid}), driver {info.driver}, "
          f"instant power field supported: {gpu.instant_power_supported(gpu.indices[0])}")
    sampler = TelemetrySampler(gpu, period_s=args.period_s)
    with sampler:
        t0 = time.monotonic()
        gpu_load(args.duration_s)
        t1 = time.monotonic()
    frame = sampler.frame()
    if args.out:
        sampler.to_parquet(str(args.out))
    print(f"samples: {len(frame)} at {sampler.achieved_period_s * 1e3:.1f} ms, "
          f"CPU {sampler.cpu_s_per_tick * 1e6:.0f} us/tick")
    whole = window_energy(frame, t0, t1)
    print(f"whole run {whole.window_s:.1f} s: counter {whole.energy_j:.1f} J, instant-power "
          f"integral {whole.energy_integral_j:.1f} J, disagreement {whole.disagreement * 100:+.2f} %, "
          f"mean {whole.power_mean_w:.0f} W, max {whole.power_max_w:.0f} W, flags {whole.flags}")
    avg = frame["power_avg_w"].to_numpy(float)
    t = frame["t_mono"].to_numpy(float)
    sel = (t >= t0) & (t <= t1)
    e_avg = float(np.trapezoid(avg[sel], t[sel])) if hasattr(np, "trapezoid") else float(np.trapz(avg[sel], t[sel]))
    print(f"integral of the 1 s averaged power: {e_avg:.1f} J ({(e_avg / whole.energy_j - 1) * 100:+.2f} % vs counter)")
    for width in (1.0, 5.0):
        dis = []
        w0 = t0
        while w0 + width <= t1:
            dis.append(window_energy(frame, w0, w0 + width).disagreement)
            w0 += width
        d = np.abs(np.array(dis)) * 100
        print(f"{width:.0f} s windows ({len(d)}): |disagreement| median {np.median(d):.2f} %, "
              f"p90 {np.percentile(d, 90):.2f} %, max {d.max():.2f} %")
    clk = frame["sm_clock_mhz"].to_numpy(float)[sel]
    print(f"SM clock during load: p5 {np.percentile(clk, 5):.0f}, p50 {np.median(clk):.0f}, "
          f"p95 {np.percentile(clk, 95):.0f} MHz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
