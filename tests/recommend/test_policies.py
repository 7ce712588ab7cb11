"""Clock policies (decisions) and the pinned clock change that applies them on SimGpu."""

from __future__ import annotations

import pytest

from greenllm.errors import ConfigError, GpuError
from greenllm.gpu import SimGpu, change_pinned_clock, pin_clocks, snap_clock
from greenllm.recommend.policies import FixedClock, ScheduleClock, SloFeedback, read_schedule


def test_schedule_follows_trace_windows_in_replay_time():
    # windows start at trace 0, 300, 600 s; replay 60x faster from trace time 0
    p = ScheduleClock([0.0, 300.0, 600.0], [1980, 1000, 1400], trace_t0_s=0.0, time_scale=60)
    assert p.initial_mhz() == 1980
    assert p.decide(4.9, 1980) == 1980  # trace 294 s
    assert p.decide(5.1, 1980) == 1000  # trace 306 s
    assert p.decide(100.0, 1000) == 1400  # past the last start: the last window's clock


def test_feedback_steps_down_with_headroom_and_up_when_missing():
    p = SloFeedback([1000, 1400, 1980], slo_ttft_s=1.0, slo_tbt_s=0.1, headroom=0.6,
                    window_requests=10, min_requests=5)
    assert p.initial_mhz() == 1980
    assert p.decide(0, 1980) == 1980  # no data yet
    for _ in range(5):
        p.observe(0.2, 0.01)
    assert p.decide(1, 1980) == 1400
    assert p.decide(2, 1400) == 1400  # needs fresh requests at the new clock
    for _ in range(10):
        p.observe(1.5, 0.01)  # TTFT beyond the SLO
    assert p.decide(3, 1400) == 1980
    for _ in range(10):
        p.observe(0.8, 0.01)  # within the SLO, without headroom: stay
    assert p.decide(4, 1980) == 1980


def test_fixed_never_moves():
    p = FixedClock(1400)
    assert p.initial_mhz() == 1400 and p.decide(10, 1400) == 1400


def test_bad_schedules(tmp_path):
    with pytest.raises(ConfigError):
        ScheduleClock([], [], 0.0, 1.0)
    with pytest.raises(ConfigError, match="no such file"):
        read_schedule(tmp_path / "none.csv")
    (tmp_path / "s.csv").write_text("window,clock_mhz\n0,1980\n")
    with pytest.raises(ConfigError, match="window_start_s"):
        read_schedule(tmp_path / "s.csv")


def test_change_pinned_clock_verifies_and_the_pin_restores(tmp_path):
    gpu = SimGpu.create(tmp_path / "state", 2, settle_s=0.01)
    markers = tmp_path / "markers"
    with pin_clocks(gpu, 1980, marker_dir=markers, settle_timeout_s=2) as plan:
        change = change_pinned_clock(gpu, plan, 1005)
        assert change.applied_mhz == snap_clock(gpu.info(0).supported_sm_clocks_mhz, 1005)
        assert change.applied_mhz != 1980
        assert change.verified is not False
        assert all(gpu.locked_sm_clock_mhz(i) == change.applied_mhz for i in gpu.indices)
        assert plan.applied_mhz == change.applied_mhz
    assert all(gpu.locked_sm_clock_mhz(i) is None for i in gpu.indices)  # restored


def test_change_outside_a_pin_is_refused(tmp_path):
    gpu = SimGpu.create(tmp_path / "state", 1, settle_s=0.01)
    with pin_clocks(gpu, None, mode="observe", marker_dir=tmp_path / "m") as plan, \
            pytest.raises(GpuError, match="active pin_clocks"):
        change_pinned_clock(gpu, plan, 1400)
    assert gpu.locked_sm_clock_mhz(0) is None


def test_restore_after_an_error_during_changes(tmp_path):
    gpu = SimGpu.create(tmp_path / "state", 1, settle_s=0.01)
    with pytest.raises(RuntimeError), pin_clocks(gpu, 1980, marker_dir=tmp_path / "m") as plan:
        change_pinned_clock(gpu, plan, 1200)
        raise RuntimeError("replay failed")
    assert gpu.locked_sm_clock_mhz(0) is None
