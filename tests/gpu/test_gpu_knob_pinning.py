"""pin_clocks with the power limit and memory clock, against SimGpu: checked before any
change, set, verified, restored on success / error / Ctrl-C / SIGTERM, recovered after
kill -9 (next pin or ``greenllm clocks reset``), recorded in observe mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu import SimGpu, pin_clocks
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


def knobs(sim: SimGpu) -> list[tuple[float, int]]:
    return [(sim.power_limit_w(i), sim.memory_clock_mhz(i)) for i in sim.indices]


DEFAULT = [(700.0, 2619), (700.0, 2619)]


def test_power_limit_and_memory_clock_are_set_verified_recorded_and_restored(sim, markers):
    with pin_clocks(sim, 1410, power_limit_w=450, memory_clock_mhz=1593,
                    marker_dir=markers, **FAST) as plan:
        assert knobs(sim) == [(450.0, 1593), (450.0, 1593)]
        assert plan.power_limit_readback_w == {0: 450.0, 1: 450.0}
        assert plan.memory_clock_readback_mhz == {0: 1593, 1: 1593}
        assert plan.requested_power_limit_w == 450 and plan.requested_memory_clock_mhz == 1593
        (marker,) = markers.glob("clock-pin-*.json")
        content = json.loads(marker.read_text())
        assert content["memory_clock"] is True and content["sm_clock"] is True
        assert content["previous_power_limit_w"] == {sim.info(i).uuid: 700.0 for i in (0, 1)}
    assert knobs(sim) == DEFAULT
    assert [sim.locked_sm_clock_mhz(i) for i in (0, 1)] == [None, None]
    assert read_markers(markers) == []


def test_the_previous_power_limit_is_restored_not_the_default(sim, markers):
    sim.set_power_limit(0, 600)  # e.g. an admin's own limit
    with pin_clocks(sim, None, power_limit_w=300, marker_dir=markers, **FAST):
        assert sim.power_limit_w(0) == 300.0
    assert sim.power_limit_w(0) == 600.0 and sim.power_limit_w(1) == 700.0


def test_power_limit_alone_leaves_the_sm_clock_unlocked(sim, markers):
    with pin_clocks(sim, None, power_limit_w=300, marker_dir=markers, **FAST) as plan:
        assert sim.locked_sm_clock_mhz(0) is None and plan.applied_mhz is None
        assert json.loads(next(markers.glob("*.json")).read_text())["sm_clock"] is False
    assert knobs(sim) == DEFAULT


@pytest.mark.parametrize("kw, msg", [
    ({"power_limit_w": 750}, r"power limit 750 W is outside the range 200-700 W"),
    ({"power_limit_w": 150}, r"outside the range 200-700 W"),
    ({"memory_clock_mhz": 2000}, r"memory clock 2000 MHz is not one .* lists \(listed: 1593, 2619 MHz\)"),
])
def test_bad_values_are_one_line_errors_before_any_change(sim, markers, kw, msg):
    with pytest.raises(GpuError, match=msg) as err, pin_clocks(sim, 1410, marker_dir=markers, **kw, **FAST):
        pass
    assert "\n" not in str(err.value)
    assert knobs(sim) == DEFAULT and sim.locked_sm_clock_mhz(0) is None
    assert not markers.exists() or read_markers(markers) == []


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_restored_on_exception_and_ctrl_c(sim, markers, exc_type):
    with pytest.raises(exc_type), pin_clocks(sim, 1410, power_limit_w=400, memory_clock_mhz=1593,
                                             marker_dir=markers, **FAST):
        raise exc_type("boom")
    assert knobs(sim) == DEFAULT and read_markers(markers) == []


def test_not_permitted_refuses_before_any_change_and_observe_records(tmp_path, markers):
    SimGpu.create(tmp_path / "s", 1, clock_permitted=False).close()
    gpu = SimGpu.open(tmp_path / "s")
    with pytest.raises(ClockPermissionError, match="power limit"), \
            pin_clocks(gpu, None, power_limit_w=400, marker_dir=markers, **FAST):
        pass
    with pin_clocks(gpu, None, mode="observe", power_limit_w=400, memory_clock_mhz=1593,
                    marker_dir=markers) as plan:
        assert plan.power_limit_readback_w == {0: 700.0}
        assert plan.memory_clock_readback_mhz == {0: 2619}
        assert any("400 W not applied" in n for n in plan.notes)
        assert any("1593 MHz not applied" in n for n in plan.notes)
    assert gpu.power_limit_w(0) == 700.0


def test_setting_that_does_not_take_effect_fails_and_restores(tmp_path, markers):
    class LimitIgnored(SimGpu):  # a driver that accepts the call and changes nothing
        def set_power_limit(self, index: int, watts: float) -> None:
            if watts != 700:
                return
            super().set_power_limit(index, watts)

    SimGpu.create(tmp_path / "s", 1).close()
    gpu = LimitIgnored.open(tmp_path / "s")
    with pytest.raises(GpuError, match="power limit reads 700 W, not the 350 W set"), \
            pin_clocks(gpu, 1410, power_limit_w=350, marker_dir=markers,
                       **{**FAST, "settle_timeout_s": 0.1}):
        pass
    assert gpu.locked_sm_clock_mhz(0) is None and read_markers(markers) == []


CHILD = textwrap.dedent(
    """
    import sys, time
    from greenllm.gpu import SimGpu, pin_clocks
    gpu = SimGpu.open(sys.argv[1])
    with pin_clocks(gpu, 1410, power_limit_w=350, memory_clock_mhz=1593,
                    marker_dir=sys.argv[2], settle_s=0.01):
        print("PINNED", flush=True)
        while True:
            time.sleep(0.02)
    """
)


def start_child(sim: SimGpu, markers: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(sim.state_path), str(markers)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert child.stdout.readline().strip() == "PINNED", child.stderr.read()
    assert knobs(sim) == [(350.0, 1593), (350.0, 1593)]
    return child


def test_sigterm_restores_every_knob(sim, markers):
    child = start_child(sim, markers)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=20) == 128 + signal.SIGTERM
    assert knobs(sim) == DEFAULT and read_markers(markers) == []


def test_kill_9_then_clocks_reset_restores_every_knob(sim, markers):
    child = start_child(sim, markers)
    child.kill()
    child.wait(timeout=20)
    assert knobs(sim) == [(350.0, 1593), (350.0, 1593)]  # nothing could restore them
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-m", "greenllm.cli.main", "clocks", "reset", "--marker-dir", str(markers)],
        capture_output=True, text=True, timeout=60, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert "previous power limit" in out.stdout and str(child.pid) in out.stdout
    assert knobs(sim) == DEFAULT and sim.locked_sm_clock_mhz(0) is None
    assert read_markers(markers) == []


def test_kill_9_then_next_pin_restores_every_knob(sim, markers):
    child = start_child(sim, markers)
    child.kill()
    child.wait(timeout=20)
    warnings: list[str] = []
    with pin_clocks(sim, 1200, marker_dir=markers, warn=warnings.append, **FAST):
        assert knobs(sim) == DEFAULT  # the stale marker was restored first
    assert len(warnings) == 1 and str(child.pid) in warnings[0]


def test_version_1_marker_restores_the_sm_clock_only(sim, markers):
    markers.mkdir()
    sim.lock_sm_clock(0, 1005)
    sim.set_power_limit(0, 500)
    (markers / "clock-pin-999999-abcd.json").write_text(json.dumps({
        "version": 1, "pid": 999999, "pid_start_ticks": None, "hostname": os.uname().nodename,
        "time_wall": 0.0, "mhz": 1005, "reopen_args": sim.reopen_args(),
        "gpus": [{"index": 0, "uuid": sim.info(0).uuid}]}))
    with pin_clocks(sim, None, marker_dir=markers, warn=lambda m: None, **FAST):
        pass
    assert sim.locked_sm_clock_mhz(0) is None and sim.power_limit_w(0) == 500.0
