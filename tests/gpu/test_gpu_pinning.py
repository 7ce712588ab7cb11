"""pin_clocks against SimGpu: snap, verify, restore (in-process and in killed children)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu import SimGpu, SimGpuSpec, pin_clocks
from greenllm.gpu.markers import read_markers

FAST = {"settle_s": 0.01, "settle_timeout_s": 2.0, "idle_grace_s": 0.1, "poll_s": 0.005}
SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def sim(tmp_path) -> SimGpu:
    gpu = SimGpu.create(tmp_path / "state", 2, settle_s=0.02)
    yield gpu
    gpu.close()


@pytest.fixture
def markers(tmp_path) -> Path:
    return tmp_path / "markers"


class CountingSim(SimGpu):
    """Counts setter calls: the thing under test is pin_clocks, not the simulator."""

    setter_calls = 0

    def lock_sm_clock(self, index: int, mhz: int) -> None:
        type(self).setter_calls += 1
        super().lock_sm_clock(index, mhz)

    def reset_sm_clock(self, index: int) -> None:
        type(self).setter_calls += 1
        super().reset_sm_clock(index)


def test_pin_locks_all_gpus_verifies_and_restores(sim, markers):
    with pin_clocks(sim, 1410, marker_dir=markers, **FAST) as plan:
        assert [sim.locked_sm_clock_mhz(i) for i in (0, 1)] == [1410, 1410]
        assert plan.verified is True and plan.applied_mhz == 1410 and not plan.snapped
        assert plan.readback_mhz == {0: 1410, 1: 1410}
        (marker,) = markers.glob("clock-pin-*.json")
        content = json.loads(marker.read_text())
        assert content["pid"] == os.getpid() and content["mhz"] == 1410
        assert [g["uuid"] for g in content["gpus"]] == [sim.info(0).uuid, sim.info(1).uuid]
        assert content["reopen_args"] == {"backend": "sim", "sim_state_path": str(sim.state_path)}
    assert [sim.locked_sm_clock_mhz(i) for i in (0, 1)] == [None, None]
    assert list(markers.glob("*.json")) == []


def test_request_snaps_to_nearest_supported_clock(sim, markers):
    with pin_clocks(sim, 800, marker_dir=markers, **FAST) as plan:
        assert (plan.requested_mhz, plan.applied_mhz, plan.snapped) == (800, 795, True)
        assert any("795" in note for note in plan.notes)
        assert sim.locked_sm_clock_mhz(0) == 795


@pytest.mark.parametrize("mhz", [2100, 300])
def test_unsupported_clock_is_rejected_in_one_line_before_any_change(sim, markers, mhz):
    with pytest.raises(GpuError) as err, pin_clocks(sim, mhz, marker_dir=markers, **FAST):
        pytest.fail("body must not run")
    assert "\n" not in str(err.value) and "345-1980" in str(err.value)
    assert sim.locked_sm_clock_mhz(0) is None and not markers.exists()


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_restores_on_exception_and_ctrl_c(sim, markers, exc_type):
    term_before, int_before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(exc_type), pin_clocks(sim, 1005, marker_dir=markers, **FAST):
        assert sim.locked_sm_clock_mhz(0) == 1005
        raise exc_type()
    assert sim.locked_sm_clock_mhz(0) is None and list(markers.glob("*.json")) == []
    assert signal.getsignal(signal.SIGTERM) is term_before  # previous handlers back
    assert signal.getsignal(signal.SIGINT) is int_before


def test_sigterm_handler_restores_previous_handler(sim, markers):
    def mine(signum, frame):  # pragma: no cover - never delivered
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        with pin_clocks(sim, 1005, marker_dir=markers, **FAST):
            assert signal.getsignal(signal.SIGTERM) is not mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, old)


def test_not_permitted_refuses_early_and_observe_still_works(tmp_path, markers):
    gpu = SimGpu.create(tmp_path / "s", 1, clock_permitted=False)
    with pytest.raises(ClockPermissionError, match="observe"):
        with pin_clocks(gpu, 1410, marker_dir=markers, **FAST):
            pass
    assert not markers.exists()
    with pin_clocks(gpu, 1410, mode="observe", marker_dir=markers) as plan:
        assert plan.mode == "observe" and plan.readback_mhz == {0: 345}


def test_observe_mode_never_calls_a_setter(tmp_path, markers):
    SimGpu.create(tmp_path / "s", 2).close()
    gpu = CountingSim.open(tmp_path / "s")
    CountingSim.setter_calls = 0
    gpu.set_load(0, 0.3, 0.3)
    with pin_clocks(gpu, 1410, mode="observe", marker_dir=markers) as plan:
        assert plan.applied_mhz is None and plan.verified is None
        assert plan.readback_mhz == {0: 1980, 1: 345}
        assert any("not applied" in n for n in plan.notes)
    with pin_clocks(gpu, None, mode="observe", marker_dir=markers):
        pass
    assert CountingSim.setter_calls == 0
    with pin_clocks(gpu, 1410, marker_dir=markers, **FAST):  # the counter does count
        pass
    assert CountingSim.setter_calls == 4


def test_readback_below_lock_under_power_cap_is_verified(sim, markers):
    sim.set_load(0, 1.0, 0.0)  # matmul: 1980 is over the cap
    time.sleep(0.2)  # sustained: the limiter acts on power averaged over ~40 ms
    with pin_clocks(sim, 1980, marker_dir=markers, **FAST) as plan:
        assert plan.verified is True
        assert 1140 <= plan.readback_mhz[0] <= 1485
        assert any("power" in n and "GPU 0" in n for n in plan.notes)


def test_idle_gpu_that_drops_its_clock_is_unverified_not_failed(tmp_path, markers):
    spec = SimGpuSpec(locked_clock_holds_when_idle=False)
    gpu = SimGpu.create(tmp_path / "s", 1, spec, settle_s=0.01)
    with pin_clocks(gpu, 1410, marker_dir=markers, **FAST) as plan:
        assert plan.verified is None and plan.readback_mhz == {0: 345}
        assert any("idle" in n for n in plan.notes)
        gpu.set_load(0, 0.3, 0.3)
        assert gpu.effective_sm_clock_mhz(0) == 1410  # the lock shows under load


def test_lock_that_does_not_take_effect_fails_and_restores(tmp_path, markers):
    class IgnoresLocks(CountingSim):
        def lock_sm_clock(self, index: int, mhz: int) -> None:
            type(self).setter_calls += 1  # a driver that accepts the call but does nothing

    SimGpu.create(tmp_path / "s", 1).close()
    gpu = IgnoresLocks.open(tmp_path / "s")
    gpu.set_load(0, 0.3, 0.3)  # runs at 1980, above the lock
    IgnoresLocks.setter_calls = 0
    with pytest.raises(GpuError, match="did not take effect") as err:
        with pin_clocks(gpu, 1005, marker_dir=markers, settle_s=0.01, settle_timeout_s=0.2, poll_s=0.01):
            pytest.fail("body must not run")
    assert "\n" not in str(err.value)
    assert IgnoresLocks.setter_calls == 2  # lock, then the restoring reset
    assert list(markers.glob("*.json")) == []


def test_live_marker_on_same_gpu_refuses(sim, markers):
    with pin_clocks(sim, 1410, marker_dir=markers, **FAST):
        other = SimGpu.open(sim.state_path, [1])
        with pytest.raises(GpuError, match="already pinned"):
            with pin_clocks(other, 1005, marker_dir=markers, **FAST):
                pass
        assert sim.locked_sm_clock_mhz(1) == 1410


def test_pin_none_resets_to_default(sim, markers):
    sim.lock_sm_clock(0, 1005)
    with pin_clocks(sim, None, marker_dir=markers, **FAST) as plan:
        assert plan.applied_mhz is None
        assert sim.locked_sm_clock_mhz(0) is None


# --- child processes -----------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, time
    from greenllm.gpu import SimGpu, pin_clocks
    gpu = SimGpu.open(sys.argv[1])
    with pin_clocks(gpu, int(sys.argv[3]), marker_dir=sys.argv[2], settle_s=0.01) as plan:
        print("PINNED", plan.applied_mhz, flush=True)
        while True:
            time.sleep(0.02)
    """
)


def start_pinned_child(sim: SimGpu, markers: Path, mhz: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(sim.state_path), str(markers), str(mhz)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    line = child.stdout.readline()
    assert line.split() == ["PINNED", str(mhz)], child.stderr.read()
    return child


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)])
def test_child_killed_by_signal_restores_clocks(sim, markers, sig, code):
    child = start_pinned_child(sim, markers, 1410)
    assert [sim.locked_sm_clock_mhz(i) for i in (0, 1)] == [1410, 1410]
    assert len(read_markers(markers)) == 1
    child.send_signal(sig)
    assert child.wait(timeout=20) == code
    assert [sim.locked_sm_clock_mhz(i) for i in (0, 1)] == [None, None]
    assert read_markers(markers) == []


def test_kill_9_then_clocks_reset_restores_and_says_so(sim, markers):
    child = start_pinned_child(sim, markers, 1005)
    child.kill()
    child.wait(timeout=20)
    assert sim.locked_sm_clock_mhz(0) == 1005  # nothing could restore it
    (marker,) = read_markers(markers)
    assert marker.is_stale()
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-m", "greenllm.cli.main", "clocks", "reset", "--marker-dir", str(markers)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "restored default clocks" in out.stdout and str(child.pid) in out.stdout
    assert [sim.locked_sm_clock_mhz(i) for i in (0, 1)] == [None, None]
    assert read_markers(markers) == []


def test_kill_9_then_next_pin_restores_stale_marker_with_warning(sim, markers):
    child = start_pinned_child(sim, markers, 1005)
    child.kill()
    child.wait(timeout=20)
    warnings: list[str] = []
    with pin_clocks(sim, 1410, marker_dir=markers, warn=warnings.append, **FAST) as plan:
        assert plan.verified is True and sim.locked_sm_clock_mhz(0) == 1410
    assert len(warnings) == 1 and "restored" in warnings[0] and str(child.pid) in warnings[0]
    assert sim.locked_sm_clock_mhz(0) is None and read_markers(markers) == []


def test_leftover_marker_of_failed_restore_is_restored_by_next_pin(tmp_path, markers):
    class ResetFailsOnce(SimGpu):
        failed = False

        def reset_sm_clock(self, index: int) -> None:
            if not type(self).failed:
                type(self).failed = True
                raise GpuError("driver busy")
            super().reset_sm_clock(index)

    SimGpu.create(tmp_path / "s", 1).close()
    gpu = ResetFailsOnce.open(tmp_path / "s")
    warnings: list[str] = []
    with pin_clocks(gpu, 1005, marker_dir=markers, warn=warnings.append, **FAST):
        pass
    assert "marker kept" in warnings[-1] and gpu.locked_sm_clock_mhz(0) == 1005
    with pin_clocks(gpu, 1410, marker_dir=markers, warn=warnings.append, **FAST) as plan:
        assert plan.verified is True
    assert "restored" in warnings[-1]
    assert gpu.locked_sm_clock_mhz(0) is None and read_markers(markers) == []


def test_unwritable_marker_dir_is_a_one_line_error(sim, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(GpuError, match="cannot write the clock marker"), \
            pin_clocks(sim, 1005, marker_dir=blocker / "markers", **FAST):
        pytest.fail("body must not run")
    assert sim.locked_sm_clock_mhz(0) is None


def test_lock_refused_despite_heuristic_is_clean(tmp_path, markers):
    class RootInContainer(SimGpu):  # heuristic says yes, the driver says no
        def clock_control_permitted(self, index: int) -> bool:
            return True

    SimGpu.create(tmp_path / "s", 2, clock_permitted=False).close()
    gpu = RootInContainer.open(tmp_path / "s")
    warnings: list[str] = []
    with pytest.raises(ClockPermissionError), \
            pin_clocks(gpu, 1005, marker_dir=markers, warn=warnings.append, **FAST):
        pytest.fail("body must not run")
    assert warnings == [] and read_markers(markers) == []
