"""`greenllm doctor` and the telemetry sampler on a real NVIDIA GPU (read-only).

Run on a GPU machine: GREENLLM_GPU_READ_ONLY=1 python -m pytest -m gpu tests/hardware
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from greenllm.gpu import TelemetrySampler, window_energy

pytestmark = pytest.mark.gpu


def test_doctor_reads_the_gpu_and_reports_observe_mode(real_gpu) -> None:
    env = {**os.environ, "GREENLLM_GPU_READ_ONLY": "1"}
    proc = subprocess.run([sys.executable, "-m", "greenllm.cli.main", "doctor", "--gpus", "0"],
                          env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"^GPUs \(NVML\): 1$", out, re.M), out
    info = real_gpu.info(real_gpu.indices[0])
    assert f"{info.name}  {info.uuid}" in out  # the card doctor read is the one NVML names
    assert "could not be read" not in out and "cannot be read" not in out
    # read-only guard: doctor must say pinning is off, and offer observe mode
    assert "clock locking: NOT permitted" in out, out
    assert "Result: ready to measure, observe mode only" in out, out
    now = re.search(r"now: ([\d.]+) W instant, ([\d.]+) W 1-s average, SM (\d+) MHz", out)
    assert now, out
    power_w, sm_mhz = float(now.group(1)), int(now.group(3))
    assert 5.0 < power_w < 1.5 * info.power_limit_w, out  # idle to full load, not garbage
    assert 0 < sm_mhz <= max(info.supported_sm_clocks_mhz or (10_000,)), out


def _busy_gpu(seconds: float) -> str:
    """Load GPU 0 with bf16 matmuls if torch+CUDA are here (power rises above idle);
    returns what ran, for the assertion messages."""
    try:
        import torch
    except ImportError:
        time.sleep(seconds)
        return "idle (torch not installed)"
    if not torch.cuda.is_available():
        time.sleep(seconds)
        return "idle (torch sees no CUDA device)"
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(20):
            a = (a @ a).clamp_(-1, 1)
        torch.cuda.synchronize()
    return "bf16 matmuls"


def test_sampler_energy_counter_is_monotone_and_power_plausible(real_gpu) -> None:
    index = real_gpu.indices[0]
    info = real_gpu.info(index)
    sampler = TelemetrySampler(real_gpu, period_s=0.02)
    with sampler:
        time.sleep(1.0)
        t0 = time.monotonic()
        load = _busy_gpu(6.0)
        t1 = time.monotonic()
        time.sleep(1.0)
    frame = sampler.frame()
    assert sampler.n_ticks > 200, sampler.n_ticks  # ~8 s at 20 ms
    assert sampler.achieved_period_s < 0.05, sampler.achieved_period_s

    energy = frame["energy_mj"].to_numpy()
    assert np.all(np.diff(energy) >= 0), "energy counter went backwards"
    assert energy[-1] > energy[0]

    power = frame["power_instant_w"].to_numpy()
    assert np.all((power > 5.0) & (power < 1.5 * info.power_limit_w)), (
        f"instant power outside 5 W..1.5 x {info.power_limit_w:.0f} W: "
        f"{power.min():.1f}..{power.max():.1f} W")
    assert (frame["sm_clock_mhz"] > 0).all()

    w = window_energy(frame, t0, t1)
    # Mean power from the counter: above idle floor, below the limit (+10 % for counter
    # granularity on a 6 s window).
    assert 20.0 < w.power_mean_w < 1.1 * info.power_limit_w, (load, w)
    # The counter and the instant-power integral measure the same energy: within 10 %
    # on 6 s (docs/h100.md: within 1 % on ~45 s windows, noisier on short ones).
    assert abs(w.disagreement) < max(0.10, 3 * w.integral_noise), (load, w)
