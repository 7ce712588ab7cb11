"""The energy counter's read period, chosen from the read's measured cost."""

import time

import pytest
from gpu_fake_pynvml import FakeDevice, make_fake_pynvml

from greenllm.gpu import NvmlGpu, TelemetrySampler
from greenllm.gpu.energy_read import (
    MAX_ENERGY_PERIOD_S,
    choose_energy_period_s,
    describe,
    plan_energy_reads,
)

UUIDS = [f"GPU-{k:08d}-0000-0000-0000-000000000000" for k in range(8)]


@pytest.mark.parametrize("read_s, n_gpus, period", [
    (40e-6, 2, 0.0),        # SimGpu: every tick
    (0.004, 1, 0.0),        # the lent H100: 4 ms every 20 ms is the 20 % bound itself
    (0.008, 1, 0.04),       # the lent H200, typical read: every 40 ms
    (0.011, 1, 0.055),      # its slowest reads
    (0.004, 4, 0.08),
    (0.004, 8, MAX_ENERGY_PERIOD_S),  # TP8: capped at the counter's update period
    (0.011, 8, MAX_ENERGY_PERIOD_S),
])
def test_period_keeps_reads_under_the_bound_up_to_the_counters_update(read_s, n_gpus, period):
    assert choose_energy_period_s(read_s, n_gpus, 0.02) == pytest.approx(period)


def nvml(read_s: float, n: int = 1) -> NvmlGpu:
    fake = make_fake_pynvml([FakeDevice(uuid=UUIDS[k], energy_read_s=read_s) for k in range(n)])
    return NvmlGpu(nvml=fake, cuda_visible_devices=None)


def test_a_slow_read_is_measured_and_read_less_often():
    gpu = nvml(0.008)
    with TelemetrySampler(gpu, period_s=0.02, energy_period_s="auto") as sampler:
        plan = sampler.energy_plan
        time.sleep(0.8)
    assert 0.007 <= plan.read_s < 0.03  # a sleep of 8 ms, plus the scheduler's slack
    assert sampler.energy_period_s == plan.energy_period_s == pytest.approx(
        min(plan.read_s / 0.2, MAX_ENERGY_PERIOD_S))
    assert plan.read_share <= 0.2 + 1e-9
    frame = sampler.frame()
    read = frame["energy_mj"].notna()
    assert read.iloc[0] and read.iloc[-1]  # windows stay bracketed
    # about one tick in two (40 ms of 20 ms ticks); every tick without the slow read
    assert 0.15 < read.mean() < 0.8
    assert describe(plan).startswith(f"energy counter read: {plan.read_s * 1000:.2f} ms per GPU x 1")


def test_a_fast_read_is_read_every_tick():
    with TelemetrySampler(nvml(0.0, n=2), period_s=0.02, energy_period_s="auto") as sampler:
        time.sleep(0.2)
    assert sampler.energy_plan.energy_period_s == 0.0
    assert sampler.energy_plan.n_gpus == 2
    assert sampler.frame()["energy_mj"].notna().all()


def test_many_slow_gpus_are_capped_and_say_so():
    plan = plan_energy_reads(nvml(0.008, n=8), list(range(8)), 0.02)
    assert plan.energy_period_s == MAX_ENERGY_PERIOD_S and plan.read_share > 0.5
    assert "above the bound" in describe(plan)
