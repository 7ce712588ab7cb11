"""The live engine prices an iteration during which SimGpu's power limiter engages."""

from __future__ import annotations

import math

import pytest

from greenllm.gpu import SimGpu, SimGpuSpec
from greenllm.sim.engine import ModelEngine
from greenllm.sim.model_shape import ModelShape
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.scheduler import Scheduler, SimRequest

LLAMA2_13B = ModelShape(hidden_size=5120, num_layers=40, num_heads=40, num_kv_heads=40,
                        intermediate_size=13824, vocab_size=32000, head_dim=128)


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _engine(tmp_path, spec: SimGpuSpec) -> tuple[ModelEngine, SimGpu, FakeClock]:
    clock = FakeClock()
    gpu = SimGpu.create(tmp_path / f"state-{spec.power_limit_tau_s}", 1, spec,
                        time_source=clock)
    engine = ModelEngine(PerfModel(LLAMA2_13B, max_num_seqs=64), Scheduler(64, 8192),
                         gpu, [0], request_overhead_s=0.0)
    return engine, gpu, clock


def _prefill(engine: ModelEngine, tokens: int):
    engine.scheduler.add(SimRequest("r", tokens, 1))
    return engine.scheduler.step()


def test_a_long_prefill_runs_its_start_at_full_clock_and_the_rest_capped(tmp_path):
    # a 13B 4096-token prefill from idle: ~1350 W at 1980 MHz, so the limiter engages
    # after tau ln((P - 73) / (P - 700)) and the rest of the work runs at ~1300 MHz
    spec = SimGpuSpec.h100_sxm()
    engine, gpu, clock = _engine(tmp_path, spec)
    batch = _prefill(engine, 4096)
    full = engine.perf.batch_cost(batch, 1980)
    capped_mhz = spec.operating_point(1980, full.compute_util, full.memory_util)[0]
    capped = engine.perf.batch_cost(batch, capped_mhz)
    burst_w = spec.power_w(1980, full.compute_util, full.memory_util)
    boost_s = spec.power_limit_tau_s * math.log((burst_w - 73.0) / (burst_w - 700.0))
    assert 0 < boost_s < full.duration_s

    cost = engine.price(batch)
    done = boost_s / full.duration_s
    assert cost.duration_s == pytest.approx(boost_s + (1 - done) * capped.duration_s, rel=1e-3)
    assert full.duration_s < cost.duration_s < capped.duration_s
    assert capped_mhz < cost.sm_clock_mhz < 1980
    # the GPU agrees: at full clock above the limit now, capped once the burst is spent
    assert gpu.sample(0).sm_clock_mhz == 1980
    clock.t += boost_s + 1e-4
    s = gpu.sample(0)
    assert s.power_instant_w == pytest.approx(700.0) and s.sm_clock_mhz == round(capped_mhz)


def test_short_prefill_passes_and_instant_cap_throttles_it(tmp_path):
    # a 13B 384-token prefill (~21 ms) is shorter than the limiter allows from idle: the
    # whole prefill runs at 1980 MHz; with an instant cap it runs throttled and longer
    limited, _, _ = _engine(tmp_path, SimGpuSpec.h100_sxm())
    instant, _, _ = _engine(tmp_path, SimGpuSpec(power_limit_tau_s=0.0))
    batch = _prefill(limited, 384)
    full = limited.perf.batch_cost(batch, 1980)
    burst = limited.price(batch)
    throttled = instant.price(_prefill(instant, 384))
    assert burst.sm_clock_mhz == 1980 and burst.duration_s == pytest.approx(full.duration_s)
    assert throttled.sm_clock_mhz < 1500
    assert throttled.duration_s > 1.3 * burst.duration_s
