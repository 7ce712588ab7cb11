"""NvmlGpu's mapping onto NVML calls, checked against a stand-in pynvml module.

The thing under test is NvmlGpu (which functions it calls, with which arguments, and how
it converts units and errors); the stand-in only serves NVML-shaped values.
"""

from __future__ import annotations

import sys

import pytest
from gpu_fake_pynvml import FakeDevice, make_fake_pynvml, setter_calls

from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu import NvmlGpu, decode_reasons, open_gpus

UUIDS = [f"GPU-{k}aaaaaaa-0000-0000-0000-00000000000{k}" for k in range(4)]


def fake(n: int = 2, **kw) -> object:
    return make_fake_pynvml([FakeDevice(uuid=UUIDS[k], **kw) for k in range(n)])


def test_sample_maps_calls_and_converts_units():
    nv = fake(2)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None)
    s = gpu.sample(1)
    assert s.index == 1
    assert s.energy_mj == 123_456_789.0
    assert s.power_instant_w == pytest.approx(412.25)  # field 186, mW -> W
    assert s.power_avg_w == pytest.approx(250.5)  # nvmlDeviceGetPowerUsage, mW -> W
    assert (s.sm_clock_mhz, s.mem_clock_mhz, s.temperature_c) == (1410, 2619, 41.0)
    assert decode_reasons(s.throttle_reasons) == ["gpu_idle", "sw_power_cap"]
    assert s.utilization_pct == 87.0
    names = [c[0] for c in nv.calls]
    assert ("nvmlDeviceGetFieldValues", (1, [186])) in nv.calls
    assert ("nvmlDeviceGetClockInfo", (1, nv.NVML_CLOCK_SM)) in nv.calls
    assert ("nvmlDeviceGetClockInfo", (1, nv.NVML_CLOCK_MEM)) in nv.calls
    assert ("nvmlDeviceGetTemperature", (1, nv.NVML_TEMPERATURE_GPU)) in nv.calls
    assert "nvmlDeviceGetCurrentClocksEventReasons" in names
    assert "nvmlDeviceGetCurrentClocksThrottleReasons" not in names
    assert gpu.instant_power_supported(1)
    assert setter_calls(nv) == []


def test_instant_power_falls_back_to_average_and_says_so():
    nv = fake(1, instant_mw=None)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None)
    assert gpu.instant_power_supported(0) is False
    s = gpu.sample(0)
    assert s.power_instant_w == pytest.approx(250.5) == s.power_avg_w


def test_reasons_fall_back_to_throttle_reasons_on_older_drivers():
    nv = fake(1, event_reasons_supported=False, reasons=0x40)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None)
    assert decode_reasons(gpu.sample(0).throttle_reasons) == ["hw_thermal_slowdown"]
    gpu.sample(0)
    names = [c[0] for c in nv.calls]
    assert names.count("nvmlDeviceGetCurrentClocksThrottleReasons") == 2
    assert names.count("nvmlDeviceGetCurrentClocksEventReasons") == 1  # tried once, then remembered


def test_info_reads_clocks_at_highest_memory_clock_ascending():
    nv = fake(1)
    info = NvmlGpu(nvml=nv, cuda_visible_devices=None).info(0)
    assert info.memory_clock_mhz == 2619
    assert ("nvmlDeviceGetSupportedGraphicsClocks", (0, 2619)) in nv.calls
    clocks = info.supported_sm_clocks_mhz
    assert (len(clocks), clocks[0], clocks[-1]) == (110, 345, 1980)
    assert list(clocks) == sorted(clocks)
    assert info.power_limit_w == 700.0
    assert (info.name, info.uuid, info.driver) == ("NVIDIA H100 80GB HBM3", UUIDS[0], "580.159.04")
    assert info.default_sm_clock_mhz == 1980 and info.simulated is False


def test_lock_and_reset_call_locked_clock_api():
    nv = fake(2)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None)
    gpu.lock_sm_clock(1, 1410)
    gpu.reset_sm_clock(1)
    assert setter_calls(nv) == [
        ("nvmlDeviceSetGpuLockedClocks", (1, 1410, 1410)),
        ("nvmlDeviceResetGpuLockedClocks", (1,)),
    ]


def test_nvml_errors_become_one_line_greenllm_errors():
    nv = fake(1, lock_error=4)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None)
    with pytest.raises(ClockPermissionError) as err:
        gpu.lock_sm_clock(0, 1410)
    assert "\n" not in str(err.value) and "not permitted" in str(err.value)
    nv.devices[0].lock_error = 3
    with pytest.raises(GpuError) as err2:
        gpu.reset_sm_clock(0)
    assert not isinstance(err2.value, ClockPermissionError)
    assert "not supported" in str(err2.value)


def test_clock_control_permitted_changes_nothing():
    nv = fake(1, restriction=1)
    assert NvmlGpu(nvml=nv, cuda_visible_devices=None, geteuid=lambda: 0).clock_control_permitted(0)
    assert not NvmlGpu(nvml=nv, cuda_visible_devices=None, geteuid=lambda: 1000).clock_control_permitted(0)
    nv.devices[0].restriction = 0  # an admin lifted the restriction (docs/gpu.md)
    assert NvmlGpu(nvml=nv, cuda_visible_devices=None, geteuid=lambda: 1000).clock_control_permitted(0)
    assert ("nvmlDeviceGetAPIRestriction", (0, 0)) in nv.calls
    assert setter_calls(nv) == []


def test_no_driver_is_a_one_line_error(monkeypatch):
    nv = make_fake_pynvml([], init_error=12)
    monkeypatch.setitem(sys.modules, "pynvml", nv)  # the import path, not the parameter
    with pytest.raises(GpuError, match=r"^no NVIDIA driver/GPU found \(NVML: NVML Shared Library"):
        open_gpus("nvml")
    with pytest.raises(GpuError, match="no NVIDIA driver/GPU found"):
        NvmlGpu(nvml=make_fake_pynvml([]), cuda_visible_devices=None)


def test_gpus_follow_cuda_visible_devices():
    nv = fake(4)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=f"2,{UUIDS[3][:10]}")
    assert gpu.indices == (2, 3)
    assert NvmlGpu([1], nvml=nv, cuda_visible_devices="2,3").indices == (3,)
    assert NvmlGpu([UUIDS[0]], nvml=nv, cuda_visible_devices=None).indices == (0,)
    assert gpu.sample(3).index == 3
    with pytest.raises(GpuError, match="not one of"):
        gpu.sample(0)


def test_read_only_env_never_calls_a_setter(monkeypatch):
    nv = fake(1)
    gpu = NvmlGpu(nvml=nv, cuda_visible_devices=None, geteuid=lambda: 0)
    assert gpu.clock_control_permitted(0)  # root may ...
    monkeypatch.setenv("GREENLLM_GPU_READ_ONLY", "1")
    assert not gpu.clock_control_permitted(0)  # ... but not on a read-only card
    for call in (lambda: gpu.lock_sm_clock(0, 1410), lambda: gpu.reset_sm_clock(0)):
        with pytest.raises(ClockPermissionError, match="GREENLLM_GPU_READ_ONLY"):
            call()
    assert setter_calls(nv) == []
