"""A stand-in ``pynvml`` module for testing NvmlGpu's call mapping without a GPU.

It records every call (name, args) and serves per-GPU values in NVML's own units (mW,
mJ, MHz), so tests can check that NvmlGpu calls the right functions with the right
arguments and converts units. Constants and error codes are NVML's values.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass, field
from typing import Any

NVML_SUCCESS = 0
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15


class NVMLError(Exception):
    def __init__(self, value: int):
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {3: "Not Supported", 4: "Insufficient Permissions", 12: "NVML Shared Library Not Found",
                13: "Function Not Found", 15: "GPU is lost"}.get(self.value, f"error {self.value}")


@dataclass
class FakeDevice:
    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    energy_mj: int = 123_456_789
    power_mw: int = 250_500  # nvmlDeviceGetPowerUsage (1 s average)
    instant_mw: int | None = 412_250  # field 186; None = not supported
    sm_mhz: int = 1410
    mem_mhz: int = 2619
    temp_c: int = 41
    reasons: int = 0x4 | 0x1
    event_reasons_supported: bool = True
    restriction: int = 1  # NVML_FEATURE_ENABLED: application clocks restricted to root
    limit_mw: int = 700_000
    limit_range_mw: tuple[int, int] | None = (200_000, 700_000)  # None: not supported
    default_limit_mw: int = 700_000
    mem_locked: int | None = None  # the memory clock locked by the last call, None: reset
    graphics_clocks: dict[int, list[int]] = field(default_factory=lambda: {
        2619: [1980 - 15 * k for k in range(110)],  # NVML lists them descending
        1593: [1500, 1200, 900],
    })
    util_gpu: int = 87
    lock_error: int | None = None
    energy_read_s: float = 0.0  # how long nvmlDeviceGetTotalEnergyConsumption takes (H200: 6-11 ms)


@dataclass
class _Value:
    uiVal: int = 0
    dVal: float = 0.0
    ulVal: int = 0
    ullVal: int = 0
    sllVal: int = 0
    siVal: int = 0
    usVal: int = 0


@dataclass
class _FieldValue:
    fieldId: int
    nvmlReturn: int
    valueType: int
    value: _Value


def make_fake_pynvml(devices: list[FakeDevice], *, init_error: int | None = None,
                     driver: str = "580.159.04") -> types.ModuleType:
    mod = types.ModuleType("pynvml")
    mod.calls = []  # type: ignore[attr-defined]
    mod.devices = devices  # type: ignore[attr-defined]
    consts = dict(  # noqa: C408 - NVML names read better as keywords
        NVML_SUCCESS=0, NVML_ERROR_NOT_SUPPORTED=3, NVML_ERROR_NO_PERMISSION=4,
        NVML_ERROR_LIBRARY_NOT_FOUND=12, NVML_ERROR_FUNCTION_NOT_FOUND=13, NVML_ERROR_GPU_IS_LOST=15,
        NVML_CLOCK_GRAPHICS=0, NVML_CLOCK_SM=1, NVML_CLOCK_MEM=2, NVML_TEMPERATURE_GPU=0,
        NVML_FI_DEV_POWER_INSTANT=186, NVML_FEATURE_DISABLED=0, NVML_FEATURE_ENABLED=1,
        NVML_RESTRICTED_API_SET_APPLICATION_CLOCKS=0,
    )
    for k, v in consts.items():
        setattr(mod, k, v)
    mod.NVMLError = NVMLError  # type: ignore[attr-defined]

    def rec(name: str, *args: Any) -> None:
        mod.calls.append((name, args))  # type: ignore[attr-defined]

    def dev(handle: Any) -> FakeDevice:
        return devices[handle]

    def fn(name: str):
        def wrap(impl):
            def call(*args: Any) -> Any:
                rec(name, *args)
                return impl(*args)
            setattr(mod, name, call)
            return impl
        return wrap

    @fn("nvmlInit")
    def _init() -> None:
        if init_error is not None:
            raise NVMLError(init_error)

    fn("nvmlShutdown")(lambda: None)
    fn("nvmlDeviceGetCount")(lambda: len(devices))
    fn("nvmlDeviceGetHandleByIndex")(lambda i: i)
    fn("nvmlDeviceGetUUID")(lambda h: dev(h).uuid)
    fn("nvmlDeviceGetName")(lambda h: dev(h).name)
    fn("nvmlSystemGetDriverVersion")(lambda: driver)
    fn("nvmlDeviceGetEnforcedPowerLimit")(lambda h: dev(h).limit_mw)
    fn("nvmlDeviceGetPowerManagementLimit")(lambda h: dev(h).limit_mw)
    fn("nvmlDeviceGetPowerManagementDefaultLimit")(lambda h: dev(h).default_limit_mw)

    @fn("nvmlDeviceGetPowerManagementLimitConstraints")
    def _constraints(h: int) -> list[int]:
        if dev(h).limit_range_mw is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return list(dev(h).limit_range_mw)

    @fn("nvmlDeviceSetPowerManagementLimit")
    def _set_limit(h: int, mw: int) -> None:
        if dev(h).lock_error is not None:
            raise NVMLError(dev(h).lock_error)
        dev(h).limit_mw = mw

    @fn("nvmlDeviceSetMemoryLockedClocks")
    def _lock_mem(h: int, lo: int, hi: int) -> None:
        if dev(h).lock_error is not None:
            raise NVMLError(dev(h).lock_error)
        dev(h).mem_locked = dev(h).mem_mhz = hi

    @fn("nvmlDeviceResetMemoryLockedClocks")
    def _reset_mem(h: int) -> None:
        if dev(h).lock_error is not None:
            raise NVMLError(dev(h).lock_error)
        dev(h).mem_locked = None
        dev(h).mem_mhz = max(dev(h).graphics_clocks)
    fn("nvmlDeviceGetSupportedMemoryClocks")(lambda h: sorted(dev(h).graphics_clocks, reverse=True))
    fn("nvmlDeviceGetSupportedGraphicsClocks")(lambda h, mem: list(dev(h).graphics_clocks[mem]))
    fn("nvmlDeviceGetMaxClockInfo")(lambda h, t: 1980 if t == 1 else 2619)
    @fn("nvmlDeviceGetTotalEnergyConsumption")
    def _energy(h: int) -> int:
        if dev(h).energy_read_s:
            time.sleep(dev(h).energy_read_s)  # the driver's slow read (releases the GIL too)
        return dev(h).energy_mj

    fn("nvmlDeviceGetPowerUsage")(lambda h: dev(h).power_mw)
    fn("nvmlDeviceGetTemperature")(lambda h, sensor: dev(h).temp_c if sensor == 0 else 99)
    fn("nvmlDeviceGetUtilizationRates")(lambda h: types.SimpleNamespace(gpu=dev(h).util_gpu, memory=10))
    fn("nvmlDeviceGetAPIRestriction")(lambda h, api: dev(h).restriction)
    fn("nvmlDeviceGetCurrentClocksThrottleReasons")(lambda h: dev(h).reasons)

    @fn("nvmlDeviceGetClockInfo")
    def _clock(h: int, clock_type: int) -> int:
        return {1: dev(h).sm_mhz, 2: dev(h).mem_mhz}.get(clock_type, 1)

    @fn("nvmlDeviceGetCurrentClocksEventReasons")
    def _event_reasons(h: int) -> int:
        if not dev(h).event_reasons_supported:
            raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
        return dev(h).reasons

    @fn("nvmlDeviceGetFieldValues")
    def _fields(h: int, ids: list[int]) -> list[_FieldValue]:
        out = []
        for fid in ids:
            mw = dev(h).instant_mw if fid == 186 else None
            if mw is None:
                out.append(_FieldValue(fid, NVML_ERROR_NOT_SUPPORTED, 1, _Value()))
            else:
                out.append(_FieldValue(fid, NVML_SUCCESS, 1, _Value(uiVal=mw)))
        return out

    @fn("nvmlDeviceSetGpuLockedClocks")
    def _lock(h: int, lo: int, hi: int) -> None:
        if dev(h).lock_error is not None:
            raise NVMLError(dev(h).lock_error)
        dev(h).sm_mhz = hi

    @fn("nvmlDeviceResetGpuLockedClocks")
    def _reset(h: int) -> None:
        if dev(h).lock_error is not None:
            raise NVMLError(dev(h).lock_error)

    return mod


def setter_calls(mod: types.ModuleType) -> list[tuple[str, tuple[Any, ...]]]:
    return [c for c in mod.calls if "Set" in c[0] or "Reset" in c[0]]  # type: ignore[attr-defined]
