"""The physics the simulator claims for the power limit and the memory clock.

* the limiter caps at the power limit set, whatever it is; a load under the limit is
  untouched by it (decode at a few hundred W never meets a 700 W cap);
* memory traffic power scales with the memory clock, SM power does not;
* HBM bandwidth scales with the memory clock: memory-bound decode slows by the clock
  ratio, compute-bound prefill barely moves;
* the live engine (SimGpu) and virtual time (offline) agree on both.
"""

from __future__ import annotations

import pytest

from greenllm.gpu import SimGpu, SimGpuSpec, decode_reasons
from greenllm.sim.engine import ModelEngine
from greenllm.sim.model_shape import ModelShape
from greenllm.sim.offline import simulate_load
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.scheduler import Scheduler, SimRequest

TINY_1B = ModelShape(hidden_size=2048, num_layers=22, num_heads=32, num_kv_heads=4,
                     intermediate_size=5632, vocab_size=32000, head_dim=64)
SPEC = SimGpuSpec.h100_sxm()
R = 1593 / 2619


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def gpu(tmp_path):
    clock = FakeClock()
    g = SimGpu.create(tmp_path / "state", 1, SPEC, settle_s=0.0, time_source=clock)
    g.clock = clock
    yield g
    g.close()


@pytest.mark.parametrize("limit_w", [300.0, 450.0, 700.0])
def test_sustained_matmul_settles_at_the_limit_set(gpu, limit_w):
    gpu.set_power_limit(0, limit_w)
    gpu.set_load(0, 1.0, 0.0)
    gpu.clock.t += 5.0  # >> the limiter's 40 ms time constant
    s = gpu.sample(0)
    assert s.power_instant_w == pytest.approx(limit_w, abs=1e-6)
    assert "sw_power_cap" in decode_reasons(s.throttle_reasons)
    assert s.sm_clock_mhz < SPEC.max_sm_clock_mhz


def test_a_load_under_the_limit_is_untouched_by_it(gpu):
    decode_like = (0.05, 0.5)
    uncapped = SPEC.power_w(SPEC.max_sm_clock_mhz, *decode_like)
    assert uncapped < 400  # decode draws a few hundred W on an H100
    gpu.set_power_limit(0, 400.0)
    gpu.set_load(0, *decode_like)
    gpu.clock.t += 5.0
    s = gpu.sample(0)
    assert s.sm_clock_mhz == SPEC.max_sm_clock_mhz and s.power_instant_w == pytest.approx(uncapped)
    assert "sw_power_cap" not in decode_reasons(s.throttle_reasons)


def test_lower_memory_clock_cuts_memory_traffic_power_only(gpu):
    f = SPEC.max_sm_clock_mhz
    low = SPEC.with_settings(None, 1593)
    assert low.memory_clock_ratio() == pytest.approx(R)
    # compute alone (no memory traffic): the same power at either memory clock
    assert low.power_w(f, 1.0, 0.0) == pytest.approx(SPEC.power_w(f, 1.0, 0.0))
    # the copy loop: the memory-traffic share falls with the clock ratio
    traffic = SPEC.power_w(f, 0.0, 1.0) - SPEC.power_w(f, 0.0, 0.0)
    assert SPEC.power_w(f, 0.0, 1.0) == pytest.approx(385.0, abs=1.0)  # calibration point
    assert low.power_w(f, 0.0, 1.0) == pytest.approx(SPEC.power_w(f, 0.0, 0.0) + traffic * R)
    gpu.lock_memory_clock(0, 1593)
    gpu.set_load(0, 0.0, 1.0)
    gpu.clock.t += 1.0
    s = gpu.sample(0)
    assert s.mem_clock_mhz == 1593 and s.power_instant_w == pytest.approx(low.power_w(f, 0.0, 1.0))


def test_memory_bound_decode_slows_by_the_clock_ratio_prefill_barely():
    perf = PerfModel(TINY_1B, max_num_seqs=64)
    dec = perf.iteration_cost(decode_context_lens=[600] * 32)
    dec_low = perf.iteration_cost(decode_context_lens=[600] * 32, memory_clock_ratio=R)
    assert dec_low.memory_s == pytest.approx(dec.memory_s / R)
    assert dec_low.duration_s > dec.duration_s * 1.15
    pre = perf.iteration_cost(prefill_chunks=[(4096, 0)])
    pre_low = perf.iteration_cost(prefill_chunks=[(4096, 0)], memory_clock_ratio=R)
    assert pre_low.duration_s < pre.duration_s * 1.05  # compute-bound: FLOPs don't care


def test_live_engine_prices_decode_at_the_locked_memory_clock(gpu):
    engine = ModelEngine(PerfModel(TINY_1B, max_num_seqs=64), Scheduler(64, 8192), gpu, [0],
                         request_overhead_s=0.0)
    for i in range(16):
        engine.scheduler.add(SimRequest(f"r{i}", 100, 50))
    engine.scheduler.step()  # the prefills
    batch = engine.scheduler.step()  # a decode step
    fast = engine.price(batch)
    gpu.lock_memory_clock(0, 1593)
    slow = engine.price(batch)
    assert engine.memory_ratio() == pytest.approx(R)
    assert slow.memory_s == pytest.approx(fast.memory_s / R, rel=1e-6)


def test_offline_power_cap_costs_prefill_time_and_spares_light_decode():
    perf = PerfModel(TINY_1B, max_num_seqs=64)
    heavy = {"input_tokens": 1024, "output_tokens": 8, "rate_rps": 40.0, "n_requests": 200}
    free = simulate_load(perf, **heavy)
    capped = simulate_load(perf, **heavy, power_limit_w=250.0)
    assert capped.mean_busy_clock_mhz < free.mean_busy_clock_mhz
    assert capped.busy_s > free.busy_s
    light = {"input_tokens": 100, "output_tokens": 256, "rate_rps": 2.0, "n_requests": 20}
    a, b = simulate_load(perf, **light), simulate_load(perf, **light, power_limit_w=600.0)
    assert b.energy_j == pytest.approx(a.energy_j) and b.busy_s == pytest.approx(a.busy_s)
