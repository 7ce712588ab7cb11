"""NvmlGpu's power-limit and memory-clock knobs, checked against the stand-in pynvml.

What is checked: which NVML functions are called with which arguments and units (W ->
mW), what ``info`` reports about the ranges, and that no setter is ever called under
``GREENLLM_GPU_READ_ONLY=1`` or by the permission probe.
"""

from __future__ import annotations

import pytest
from gpu_fake_pynvml import FakeDevice, make_fake_pynvml, setter_calls

from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu import NvmlGpu

UUIDS = [f"GPU-{k}aaaaaaa-0000-0000-0000-00000000000{k}" for k in range(2)]


def fake(n: int = 1, **kw) -> object:
    return make_fake_pynvml([FakeDevice(uuid=UUIDS[k], **kw) for k in range(n)])


def test_info_reports_power_limit_range_default_and_memory_clocks():
    nv = fake()
    info = NvmlGpu(nvml=nv, cuda_visible_devices=None).info(0)
    assert (info.power_limit_min_w, info.power_limit_max_w) == (200.0, 700.0)
    assert info.default_power_limit_w == 700.0
    assert info.supported_memory_clocks_mhz == (1593, 2619)
    assert setter_calls(nv) == []


def test_info_without_power_limit_constraints_says_none():
    info = NvmlGpu(nvml=fake(limit_range_mw=None), cuda_visible_devices=None).info(0)
    assert info.power_limit_min_w is None and info.power_limit_max_w is None


def test_power_limit_is_set_in_milliwatts_and_read_back():
    nv = fake(2)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None)
    gpu.set_power_limit(1, 412.5)
    assert setter_calls(nv) == [("nvmlDeviceSetPowerManagementLimit", (1, 412_500))]
    assert gpu.power_limit_w(1) == 412.5
    assert gpu.power_limit_w(0) == 700.0


def test_memory_clock_lock_and_reset_call_the_memory_locked_clock_api():
    nv = fake(2)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None)
    gpu.lock_memory_clock(0, 1593)
    gpu.reset_memory_clock(0)
    assert setter_calls(nv) == [
        ("nvmlDeviceSetMemoryLockedClocks", (0, 1593, 1593)),
        ("nvmlDeviceResetMemoryLockedClocks", (0,)),
    ]


def test_refused_power_limit_is_a_one_line_permission_error():
    gpu = NvmlGpu(nvml=fake(lock_error=4), cuda_visible_devices=None)
    with pytest.raises(ClockPermissionError) as err:
        gpu.set_power_limit(0, 500)
    assert "\n" not in str(err.value) and "power limit" in str(err.value)
    with pytest.raises(GpuError, match="memory clock"):
        gpu.lock_memory_clock(0, 1593)


def test_power_limit_permission_is_root_only_and_changes_nothing():
    nv = fake(restriction=0)  # the application-clocks grant does not cover the power limit
    assert not NvmlGpu(nvml=nv, cuda_visible_devices=None, geteuid=lambda: 1000).power_limit_control_permitted(0)
    assert NvmlGpu(nvml=nv, cuda_visible_devices=None, geteuid=lambda: 0).power_limit_control_permitted(0)
    assert setter_calls(nv) == []


def test_read_only_env_refuses_every_knob_setter(monkeypatch):
    nv = fake()
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None, geteuid=lambda: 0)
    monkeypatch.setenv("GREENLLM_GPU_READ_ONLY", "1")
    assert not gpu.power_limit_control_permitted(0)
    for call in (lambda: gpu.set_power_limit(0, 500), lambda: gpu.lock_memory_clock(0, 1593),
                 lambda: gpu.reset_memory_clock(0)):
        with pytest.raises(ClockPermissionError, match="GREENLLM_GPU_READ_ONLY"):
            call()
    assert setter_calls(nv) == []
