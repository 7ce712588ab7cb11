"""SimGpu physics, energy bookkeeping, permissions and cross-process sharing."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time

import pytest

from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu import SimGpu, SimGpuSpec, decode_reasons


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(tmp_path, clock) -> SimGpu:
    gpu = SimGpu.create(tmp_path / "state", 2, settle_s=0.05, time_source=clock)
    yield gpu
    gpu.close()


def settle(gpu: SimGpu, clock: FakeClock, index: int = 0) -> None:
    clock.t += 0.1
    gpu.sample(index)


def test_idle_gpu_draws_73_w_at_345_mhz(sim):
    s = sim.sample(0)
    assert s.sm_clock_mhz == 345
    assert s.power_instant_w == pytest.approx(73.0, abs=1.0)
    assert decode_reasons(s.throttle_reasons) == ["gpu_idle"]
    assert sim.info(0).simulated and sim.simulated
    assert "Simulated NVIDIA H100" in sim.info(0).name


def test_supported_clocks_are_the_h100_list(sim):
    clocks = sim.info(0).supported_sm_clocks_mhz
    assert (len(clocks), clocks[0], clocks[-1], clocks[1] - clocks[0]) == (110, 345, 1980, 15)
    assert sim.info(0).memory_clock_mhz == 2619 and sim.sample(0).mem_clock_mhz == 2619


def test_matmul_load_throttles_into_observed_range_at_the_cap(sim, clock):
    sim.set_load(0, compute=1.0, memory=0.0)
    clock.t += 5 * sim.spec.power_limit_tau_s  # sustained: the limiter has engaged
    s = sim.sample(0)  # unlocked: boosts toward 1980, capped
    assert 1140 <= s.sm_clock_mhz <= 1485
    assert s.power_instant_w == pytest.approx(700.0, rel=1e-6)
    assert "sw_power_cap" in decode_reasons(s.throttle_reasons)
    sim.lock_sm_clock(0, 1980)
    settle(sim, clock)
    assert 1140 <= sim.effective_sm_clock_mhz(0) <= 1485
    assert sim.sample(0).power_instant_w == pytest.approx(700.0, rel=1e-6)


def test_short_burst_runs_at_the_requested_clock_above_the_limit(sim, clock):
    # The limiter acts on power averaged over tau (tens of ms): a 10 ms matmul burst
    # from idle runs at the full clock and draws far more than 700 W, as vLLM's prefill
    # bursts did on the lent H100 (770-890 W at ~1980 MHz).
    sim.set_load(0, compute=1.0, memory=0.0)
    for _ in range(2):
        s = sim.sample(0)
        assert s.sm_clock_mhz == 1980
        assert s.power_instant_w > 1.5 * sim.spec.power_limit_w
        assert "sw_power_cap" not in decode_reasons(s.throttle_reasons)
        clock.t += 0.005
    sim.set_load(0, 0.0, 0.0)  # the burst ends before the average reaches the limit
    assert sim.sample(0).power_instant_w == pytest.approx(73.0, abs=1.0)
    clock.t += 0.2  # the average decays: the next burst passes again
    sim.set_load(0, compute=1.0, memory=0.0)
    assert sim.effective_sm_clock_mhz(0) == 1980


def test_sustained_load_converges_to_the_limit_within_a_few_time_constants(sim, clock):
    tau = sim.spec.power_limit_tau_s
    assert 0.01 <= tau <= 0.1  # "tens of ms" (module doc)
    sim.set_load(0, compute=1.0, memory=0.0)
    burst_w = sim.sample(0).power_instant_w
    engaged_at = None
    for k in range(1, 201):  # 1 ms steps
        clock.t += 0.001
        s = sim.sample(0)
        if "sw_power_cap" in decode_reasons(s.throttle_reasons):
            engaged_at = engaged_at or k * 0.001
            assert s.power_instant_w == pytest.approx(700.0, rel=1e-9)
            assert s.sm_clock_mhz < 1500
        else:
            assert engaged_at is None, "the cap released under the same load"
            assert s.power_instant_w == pytest.approx(burst_w)
    # the exponential average from idle (73 W) reaches 700 W after tau ln((P-73)/(P-700))
    expected = tau * math.log((burst_w - 73.0) / (burst_w - 700.0))
    assert engaged_at == pytest.approx(expected, abs=0.0011)
    assert engaged_at < 3 * tau
    # a load that fits under the limit at the full clock releases the cap at once
    sim.set_load(0, 0.3, 0.3)
    s = sim.sample(0)
    assert s.sm_clock_mhz == 1980 and s.throttle_reasons == 0
    # ... and right after sustained load a new burst is capped at once (the average is
    # still at the limit)
    sim.set_load(0, 1.0, 0.0)
    assert sim.sample(0).power_instant_w == pytest.approx(700.0, rel=1e-6)


def test_instant_cap_when_the_time_constant_is_zero(tmp_path, clock):
    gpu = SimGpu.create(tmp_path / "s", 1, SimGpuSpec(power_limit_tau_s=0.0), time_source=clock)
    gpu.set_load(0, 1.0, 0.0)
    s = gpu.sample(0)
    assert s.power_instant_w == pytest.approx(700.0) and 1140 <= s.sm_clock_mhz <= 1485


def test_copy_loop_draws_about_385_w_at_1980(sim, clock):
    sim.set_load(0, compute=0.0, memory=1.0)
    sim.lock_sm_clock(0, 1980)
    settle(sim, clock)
    s = sim.sample(0)
    assert s.sm_clock_mhz == 1980
    assert s.power_instant_w == pytest.approx(385.0, abs=10.0)
    assert s.throttle_reasons == 0


def test_power_rises_with_clock_and_with_load(sim, clock):
    def power_at(mhz: int, compute: float, memory: float) -> float:
        sim.set_load(0, compute, memory)
        sim.lock_sm_clock(0, mhz)
        settle(sim, clock)
        return sim.sample(0).power_instant_w

    by_clock = [power_at(f, 0.3, 0.3) for f in (795, 1005, 1410, 1605)]
    assert by_clock == sorted(by_clock) and by_clock[0] < by_clock[-1] - 50
    by_compute = [power_at(1005, c, 0.2) for c in (0.1, 0.4, 0.8)]
    assert by_compute == sorted(by_compute) and by_compute[0] < by_compute[-1] - 50
    by_memory = [power_at(1005, 0.2, m) for m in (0.0, 0.5, 1.0)]
    assert by_memory == sorted(by_memory) and by_memory[0] < by_memory[-1] - 50


def test_energy_counter_equals_integrated_power_across_changes(sim, clock):
    # The counter must equal the sum of (instant power x duration) over the
    # piecewise-constant segments, including the settle instant of a lock and a reset.
    def power() -> float:
        return sim.sample(0).power_instant_w

    e0 = sim.sample(0).energy_mj
    expected_j = power() * 2.0
    clock.t += 2.0
    sim.set_load(0, 1.0, 0.1)
    # a burst above the limit until the average (idle: ~73 W) reaches it, then the limit
    burst_w, idle_w = power(), sim.spec.power_w(345, 0.0, 0.0)
    boost_s = sim.spec.power_limit_tau_s * math.log((burst_w - idle_w) / (burst_w - 700.0))
    assert 0.005 < boost_s < 0.2 and burst_w > 1000
    expected_j += burst_w * boost_s + 700.0 * (1.0 - boost_s)
    clock.t += 1.0
    sim.lock_sm_clock(0, 795)  # settles 50 ms later
    p_before = power()
    clock.t += 0.5
    p_after = power()
    assert p_after < p_before - 100
    expected_j += p_before * 0.05 + p_after * 0.45
    sim.set_load(0, 0.2, 0.9)
    expected_j += power() * 0.7
    clock.t += 0.7
    sim.reset_sm_clock(0)
    p_before = power()
    clock.t += 0.3
    p_after = power()
    assert p_after > p_before + 100
    expected_j += p_before * 0.05 + p_after * 0.25
    assert (sim.sample(0).energy_mj - e0) / 1000.0 == pytest.approx(expected_j, rel=1e-9)


def test_lock_takes_effect_after_settle_time(sim, clock):
    sim.set_load(0, 0.3, 0.3)
    assert sim.effective_sm_clock_mhz(0) == 1980
    sim.lock_sm_clock(0, 1410)
    assert sim.locked_sm_clock_mhz(0) == 1410
    clock.t += 0.04
    assert sim.effective_sm_clock_mhz(0) == 1980
    clock.t += 0.02
    assert sim.effective_sm_clock_mhz(0) == 1410
    sim.reset_sm_clock(0)
    assert sim.locked_sm_clock_mhz(0) is None
    clock.t += 0.06
    assert sim.effective_sm_clock_mhz(0) == 1980
    sim.set_load(0, 0.0, 0.0)
    assert sim.effective_sm_clock_mhz(0) == 345


def test_lock_snaps_and_rejects_out_of_range(sim, clock):
    sim.lock_sm_clock(0, 800)
    assert sim.locked_sm_clock_mhz(0) == 795
    with pytest.raises(GpuError, match="outside"):
        sim.lock_sm_clock(0, 2100)
    with pytest.raises(GpuError, match="0..1"):
        sim.set_load(0, 1.2, 0.0)


def test_average_power_is_trailing_one_second_mean(sim, clock):
    clock.t += 5.0
    assert sim.sample(0).power_avg_w == pytest.approx(73.0, abs=1.0)
    sim.set_load(0, 0.3, 0.3)  # step to ~570 W (under the limit: no burst, no cap)
    step_w = sim.sample(0).power_instant_w
    assert 500 < step_w < 700
    clock.t += 0.5
    s = sim.sample(0)
    assert s.power_instant_w == pytest.approx(step_w)
    assert s.power_avg_w == pytest.approx((73.0 + step_w) / 2, rel=0.01)
    clock.t += 0.6
    assert sim.sample(0).power_avg_w == pytest.approx(step_w, rel=1e-6)


def test_temperature_rises_under_load(sim, clock):
    idle_c = sim.sample(0).temperature_c
    sim.set_load(0, 1.0, 0.0)
    clock.t += 300.0
    hot_c = sim.sample(0).temperature_c
    assert 35 < hot_c - idle_c < 45  # 0.06 C/W x (700 - 73) W, after 10 time constants
    assert sim.sample(1).temperature_c == pytest.approx(idle_c, abs=0.1)  # GPU 1 idle


def test_non_root_mode_refuses_clock_changes(tmp_path, clock):
    gpu = SimGpu.create(tmp_path / "s", 1, clock_permitted=False, time_source=clock)
    assert gpu.clock_control_permitted(0) is False
    with pytest.raises(ClockPermissionError) as err:
        gpu.lock_sm_clock(0, 1410)
    assert "\n" not in str(err.value)
    assert gpu.locked_sm_clock_mhz(0) is None
    assert SimGpu.open(tmp_path / "s").clock_control_permitted(0) is False  # stored in the file


def test_open_validates_path_and_indices(tmp_path, sim):
    with pytest.raises(GpuError, match="not found"):
        SimGpu.open(tmp_path / "missing")
    (tmp_path / "junk").write_bytes(b"x" * 5000)
    with pytest.raises(GpuError, match="not a greenllm SimGpu state file"):
        SimGpu.open(tmp_path / "junk")
    with pytest.raises(GpuError, match="does not exist"):
        SimGpu.open(sim.state_path, [2])
    assert SimGpu.open(sim.state_path, [1]).indices == (1,)


def test_spec_is_shared_through_the_file(tmp_path):
    spec = SimGpuSpec(power_limit_w=400.0, name="small sim")
    SimGpu.create(tmp_path / "s", 1, spec)
    other = SimGpu.open(tmp_path / "s")
    assert other.spec == spec and other.info(0).power_limit_w == 400.0


def test_another_process_sees_and_sets_load(tmp_path):
    gpu = SimGpu.create(tmp_path / "state", 2)  # real monotonic clock: shared across processes
    gpu.lock_sm_clock(1, 1005)
    child = textwrap.dedent(
        """
        import sys
        from greenllm.gpu import SimGpu
        g = SimGpu.open(sys.argv[1])
        print(g.locked_sm_clock_mhz(1))
        g.set_load(0, 1.0, 0.0)
        """
    )
    out = subprocess.run([sys.executable, "-c", child, str(gpu.state_path)],
                         capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == "1005"  # the child saw the parent's lock
    assert gpu.load(0) == (1.0, 0.0)  # the parent sees the child's load
    time.sleep(5 * gpu.spec.power_limit_tau_s)  # sustained: past the burst the limiter allows
    s = gpu.sample(0)
    assert s.power_instant_w == pytest.approx(700.0) and 1140 <= s.sm_clock_mhz <= 1485


def test_open_gpus_creates_sim_state_when_given_settings(tmp_path):
    from greenllm.gpu import open_gpus

    path = tmp_path / "run" / "simgpu.state"
    with open_gpus("sim", [0, 1], sim_state_path=path, clock_permitted=False, settle_s=0.2) as gpu:
        assert gpu.indices == (0, 1) and gpu.settle_s == 0.2
        assert gpu.clock_control_permitted(1) is False
        uuid1 = gpu.info(1).uuid
    with open_gpus("sim", [uuid1], sim_state_path=path) as again:  # existing file, by UUID
        assert again.indices == (1,)
    with pytest.raises(GpuError, match="unknown GPU backend"):
        open_gpus("rocm")
    with pytest.raises(GpuError, match="state file"):
        open_gpus("sim", [0])
