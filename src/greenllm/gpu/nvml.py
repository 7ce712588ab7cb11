"""``NvmlGpu``: the real GPUs, read (and clock-locked) through pynvml (nvidia-ml-py).

What is read, per GPU (NVML function -> unit conversion):

* energy: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load; 100 ms updates
  on H100) -> ``energy_mj`` as is;
* instant power: field ``NVML_FI_DEV_POWER_INSTANT`` via ``nvmlDeviceGetFieldValues``
  (mW) -> W; where the driver does not support it, ``nvmlDeviceGetPowerUsage`` stands in
  and ``instant_power_supported()`` says False;
* 1 s average power: ``nvmlDeviceGetPowerUsage`` (mW) -> W;
* clocks: ``nvmlDeviceGetClockInfo`` (SM, MEM; MHz); temperature:
  ``nvmlDeviceGetTemperature`` (GPU sensor, C);
* clock-event reasons: ``nvmlDeviceGetCurrentClocksEventReasons`` (falls back to the
  deprecated ``...ClocksThrottleReasons`` on older drivers/bindings), a bitmask that
  ``decode_reasons`` names;
* static facts: name, UUID, driver, enforced power limit (mW -> W), supported graphics
  clocks at the highest supported memory clock.

Clock control is ``nvmlDeviceSetGpuLockedClocks(h, f, f)`` and
``nvmlDeviceResetGpuLockedClocks``; NVML documents both as needing root/admin. The other
knobs: the power limit, ``nvmlDeviceSetPowerManagementLimit(h, mW)`` within
``nvmlDeviceGetPowerManagementLimitConstraints`` (read back with
``nvmlDeviceGetPowerManagementLimit``; root only), and the memory clock,
``nvmlDeviceSetMemoryLockedClocks(h, f, f)`` / ``nvmlDeviceResetMemoryLockedClocks`` at
one of ``nvmlDeviceGetSupportedMemoryClocks``. Every setter refuses under
``GREENLLM_GPU_READ_ONLY=1``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu.base import Gpu, GpuInfo, Sample
from greenllm.gpu.read_only import read_only, refuse_if_read_only
from greenllm.gpu.selection import FROM_ENV, resolve_gpus

# NVML constants used when the bindings lack a name (values from nvml.h).
_FI_DEV_POWER_INSTANT = 186
_ERROR_NO_PERMISSION = 4
_ERROR_NOT_SUPPORTED = 3
_ERROR_FUNCTION_NOT_FOUND = 13
_FEATURE_DISABLED = 0
_RESTRICTED_API_SET_APPLICATION_CLOCKS = 0

# nvmlFieldValue_t.valueType -> union member holding the value.
_VALUE_MEMBERS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}

NO_GPU = "no NVIDIA driver/GPU found"


def _import_pynvml() -> ModuleType:
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError as exc:
        raise GpuError(f"{NO_GPU} (python package nvidia-ml-py is not installed: {exc})") from None
    return pynvml


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlGpu(Gpu):
    """The GPUs chosen by ``selectors`` (see ``greenllm.gpu.selection`` for the mapping).

    ``nvml`` replaces the pynvml module (tests pass a stand-in); ``geteuid`` likewise for
    the permission heuristic.
    """

    simulated = False

    def __init__(
        self,
        selectors: Sequence[int | str] | None = None,
        *,
        cuda_visible_devices: str | None | object = FROM_ENV,
        nvml: ModuleType | None = None,
        read_utilization: bool = True,
        geteuid: Callable[[], int] = os.geteuid,
    ) -> None:
        self._nvml = nvml if nvml is not None else _import_pynvml()
        self._geteuid = geteuid
        self._read_utilization = read_utilization
        self._closed = False
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as exc:
            raise GpuError(f"{NO_GPU} (NVML: {exc})") from None
        self._initialised = True
        try:
            count = int(self._call(self._nvml.nvmlDeviceGetCount, what="counting GPUs"))
            if count == 0:
                raise GpuError(f"{NO_GPU} (NVML sees 0 GPUs)")
            all_handles = [
                self._call(self._nvml.nvmlDeviceGetHandleByIndex, i, what="opening GPU", index=i)
                for i in range(count)
            ]
            uuids = [
                _text(self._call(self._nvml.nvmlDeviceGetUUID, h, what="reading UUID", index=i))
                for i, h in enumerate(all_handles)
            ]
            chosen = resolve_gpus(
                selectors,
                cuda_visible_devices,
                physical_uuids=uuids,
                mig_parent_index=self._mig_parent_index,
            )
        except BaseException:
            self.close()
            raise
        self._indices = tuple(chosen)
        self._handles = {i: all_handles[i] for i in chosen}
        self._uuids = {i: uuids[i] for i in chosen}
        self._info: dict[int, GpuInfo] = {}
        self._instant: dict[int, bool] = {}
        self._reasons_fn: Callable[[Any], int] | None = None

    # -- Gpu interface -------------------------------------------------------------

    @property
    def indices(self) -> tuple[int, ...]:
        return self._indices

    def info(self, index: int) -> GpuInfo:
        if index not in self._info:
            self._info[index] = self._read_info(index)
        return self._info[index]

    def sample(self, index: int, *, energy: bool = True) -> Sample:
        nv, h = self._nvml, self._handle(index)
        t_mono, t_wall = time.monotonic(), time.time()
        energy_mj = (float(self._call(nv.nvmlDeviceGetTotalEnergyConsumption, h, what="reading energy", index=index))
                     if energy else math.nan)
        avg_w = self._call(nv.nvmlDeviceGetPowerUsage, h, what="reading power", index=index) / 1000.0
        instant_w = self._instant_w(index) if self.instant_power_supported(index) else None
        sm = int(self._call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM, what="reading SM clock", index=index))
        mem = int(self._call(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM, what="reading memory clock", index=index))
        temp = float(self._call(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU, what="reading temperature", index=index))
        reasons = self._current_reasons(index)
        return Sample(
            index=index,
            t_mono=t_mono,
            t_wall=t_wall,
            energy_mj=energy_mj,
            power_instant_w=avg_w if instant_w is None else instant_w,
            power_avg_w=avg_w,
            sm_clock_mhz=sm,
            mem_clock_mhz=mem,
            temperature_c=temp,
            throttle_reasons=reasons,
            utilization_pct=self._utilization_pct(index),
        )

    def instant_power_supported(self, index: int) -> bool:
        if index not in self._instant:
            self._instant[index] = self._instant_w(index, probing=True) is not None
        return self._instant[index]

    def clock_control_permitted(self, index: int) -> bool:
        """Heuristic, changes nothing: root (euid 0) may lock clocks, as NVML documents
        for ``nvmlDeviceSetGpuLockedClocks``; a non-root user is given the benefit of the
        doubt only where an admin lifted the application-clocks restriction (the admin
        command is in docs/gpu.md; here it is seen as ``nvmlDeviceGetAPIRestriction(h,
        NVML_RESTRICTED_API_SET_APPLICATION_CLOCKS) == NVML_FEATURE_DISABLED``). It can
        still be wrong either way (e.g. root in an unprivileged container); a refused lock
        then raises ClockPermissionError before anything is measured."""
        if read_only():
            return False
        if self._geteuid() == 0:
            return True
        nv = self._nvml
        api = getattr(nv, "NVML_RESTRICTED_API_SET_APPLICATION_CLOCKS", _RESTRICTED_API_SET_APPLICATION_CLOCKS)
        try:
            state = nv.nvmlDeviceGetAPIRestriction(self._handle(index), api)
        except nv.NVMLError:
            return False
        return int(state) == getattr(nv, "NVML_FEATURE_DISABLED", _FEATURE_DISABLED)

    def lock_sm_clock(self, index: int, mhz: int) -> None:
        refuse_if_read_only("locking the SM clock", index)
        mhz = int(mhz)
        self._call(
            self._nvml.nvmlDeviceSetGpuLockedClocks,
            self._handle(index),
            mhz,
            mhz,
            what=f"locking the SM clock at {mhz} MHz",
            index=index,
        )

    def reset_sm_clock(self, index: int) -> None:
        refuse_if_read_only("resetting the SM clock", index)
        self._call(
            self._nvml.nvmlDeviceResetGpuLockedClocks,
            self._handle(index),
            what="resetting the SM clock",
            index=index,
        )

    def power_limit_w(self, index: int) -> float:
        nv = self._nvml
        mw = self._call(nv.nvmlDeviceGetPowerManagementLimit, self._handle(index),
                        what="reading the power limit", index=index)
        return float(mw) / 1000.0

    def power_limit_control_permitted(self, index: int) -> bool:
        """Heuristic, changes nothing: NVML documents the power-limit setter as root only
        (no admin grant lifts it, unlike application clocks)."""
        return not read_only() and self._geteuid() == 0

    def set_power_limit(self, index: int, watts: float) -> None:
        refuse_if_read_only("setting the power limit", index)
        mw = round(float(watts) * 1000.0)
        self._call(self._nvml.nvmlDeviceSetPowerManagementLimit, self._handle(index), mw,
                   what=f"setting the power limit to {watts:g} W", index=index)

    def lock_memory_clock(self, index: int, mhz: int) -> None:
        refuse_if_read_only("locking the memory clock", index)
        mhz = int(mhz)
        self._call(self._nvml.nvmlDeviceSetMemoryLockedClocks, self._handle(index), mhz, mhz,
                   what=f"locking the memory clock at {mhz} MHz", index=index)

    def reset_memory_clock(self, index: int) -> None:
        refuse_if_read_only("resetting the memory clock", index)
        self._call(self._nvml.nvmlDeviceResetMemoryLockedClocks, self._handle(index),
                   what="resetting the memory clock", index=index)

    def reopen_args(self) -> dict[str, object]:
        return {"backend": "nvml"}

    def close(self) -> None:
        if getattr(self, "_initialised", False) and not self._closed:
            self._closed = True
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError:
                pass  # shutting down a lost GPU must not hide the real error

    # -- helpers -------------------------------------------------------------------

    def uuid(self, index: int) -> str:
        self._handle(index)
        return self._uuids[index]

    def _handle(self, index: int) -> Any:
        try:
            return self._handles[index]
        except KeyError:
            raise GpuError(f"GPU {index} is not one of this run's GPUs {self._indices}") from None

    def _call(self, fn: Callable[..., Any], *args: Any, what: str, index: int | None = None) -> Any:
        try:
            return fn(*args)
        except self._nvml.NVMLError as exc:
            raise self._error(exc, what, index) from None

    def _error(self, exc: Exception, what: str, index: int | None) -> GpuError:
        nv = self._nvml
        code = getattr(exc, "value", None)
        gpu = "" if index is None else f" on GPU {index}"
        if code == getattr(nv, "NVML_ERROR_NO_PERMISSION", _ERROR_NO_PERMISSION):
            return ClockPermissionError(
                f"{what}{gpu} is not permitted (NVML: {exc}): locking clocks needs root or an "
                "admin grant; run as root or use clock mode 'observe'"
            )
        if code == getattr(nv, "NVML_ERROR_NOT_SUPPORTED", _ERROR_NOT_SUPPORTED):
            return GpuError(f"{what}{gpu} is not supported by this GPU/driver (NVML: {exc})")
        return GpuError(f"{what}{gpu} failed (NVML error {code}: {exc})")

    def _read_info(self, index: int) -> GpuInfo:
        nv, h = self._nvml, self._handle(index)
        name = _text(self._call(nv.nvmlDeviceGetName, h, what="reading name", index=index))
        driver = _text(self._call(nv.nvmlSystemGetDriverVersion, what="reading driver version"))
        try:
            limit_mw = nv.nvmlDeviceGetEnforcedPowerLimit(h)
        except nv.NVMLError:
            limit_mw = self._call(nv.nvmlDeviceGetPowerManagementLimit, h, what="reading power limit", index=index)
        try:
            mem_clocks = [int(c) for c in nv.nvmlDeviceGetSupportedMemoryClocks(h)]
        except nv.NVMLError:
            mem_clocks = []
        memory_clock = max(mem_clocks) if mem_clocks else int(
            self._call(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_MEM, what="reading memory clock", index=index)
        )
        try:
            sm_clocks = tuple(sorted({int(c) for c in nv.nvmlDeviceGetSupportedGraphicsClocks(h, memory_clock)}))
        except nv.NVMLError:
            sm_clocks = ()  # e.g. some consumer boards: pinning then refuses, observe works
        limit_min_w, limit_max_w, default_limit_w = self._power_limit_facts(h)
        # "Default" = what an unlocked, loaded, unthrottled GPU runs at: the boost maximum.
        try:
            default_sm = int(nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_SM))
        except nv.NVMLError:
            default_sm = sm_clocks[-1] if sm_clocks else None
        return GpuInfo(
            index=index,
            uuid=self._uuids[index],
            name=name,
            driver=driver,
            power_limit_w=float(limit_mw) / 1000.0,
            supported_sm_clocks_mhz=sm_clocks,
            memory_clock_mhz=memory_clock,
            default_sm_clock_mhz=default_sm,
            simulated=False,
            power_limit_min_w=limit_min_w,
            power_limit_max_w=limit_max_w,
            default_power_limit_w=default_limit_w,
            supported_memory_clocks_mhz=tuple(sorted(set(mem_clocks))),
        )

    def _power_limit_facts(self, h: Any) -> tuple[float | None, float | None, float | None]:
        """(min, max, default) power limit in W; None where the card does not say."""
        nv = self._nvml
        try:
            lo_mw, hi_mw = nv.nvmlDeviceGetPowerManagementLimitConstraints(h)
            lo, hi = float(lo_mw) / 1000.0, float(hi_mw) / 1000.0
        except (nv.NVMLError, AttributeError):
            lo = hi = None
        try:
            default = float(nv.nvmlDeviceGetPowerManagementDefaultLimit(h)) / 1000.0
        except (nv.NVMLError, AttributeError):
            default = None
        return lo, hi, default

    def _instant_w(self, index: int, probing: bool = False) -> float | None:
        nv = self._nvml
        field = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", _FI_DEV_POWER_INSTANT)
        try:
            values = nv.nvmlDeviceGetFieldValues(self._handle(index), [field])
        except nv.NVMLError as exc:
            if probing:
                return None
            raise self._error(exc, "reading instant power", index) from None
        value = values[0]
        if int(value.nvmlReturn) != 0:
            if probing:
                return None
            raise GpuError(f"reading instant power on GPU {index} failed (NVML error {int(value.nvmlReturn)})")
        member = _VALUE_MEMBERS.get(int(value.valueType), "uiVal")
        return float(getattr(value.value, member)) / 1000.0  # mW -> W

    def _current_reasons(self, index: int) -> int:
        nv, h = self._nvml, self._handle(index)
        what = "reading clock-event reasons"
        if self._reasons_fn is None:
            fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None)
            if fn is not None:
                try:
                    value = int(fn(h))
                    self._reasons_fn = fn
                    return value
                except nv.NVMLError as exc:
                    fallback_codes = (
                        getattr(nv, "NVML_ERROR_FUNCTION_NOT_FOUND", _ERROR_FUNCTION_NOT_FOUND),
                        getattr(nv, "NVML_ERROR_NOT_SUPPORTED", _ERROR_NOT_SUPPORTED),
                    )
                    if getattr(exc, "value", None) not in fallback_codes:
                        raise self._error(exc, what, index) from None
            # Drivers before the "event" rename only have the throttle-reasons call.
            fn = nv.nvmlDeviceGetCurrentClocksThrottleReasons
            value = int(self._call(fn, h, what=what, index=index))
            self._reasons_fn = fn
            return value
        return int(self._call(self._reasons_fn, h, what=what, index=index))

    def _utilization_pct(self, index: int) -> float | None:
        if not self._read_utilization:
            return None
        try:
            return float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle(index)).gpu)
        except self._nvml.NVMLError:
            self._read_utilization = False  # unsupported: stop paying for the call
            return None

    def _mig_parent_index(self, mig_uuid: str) -> int:
        nv = self._nvml
        try:
            mig = nv.nvmlDeviceGetHandleByUUID(mig_uuid)
            parent = nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
            return int(nv.nvmlDeviceGetIndex(parent))
        except (nv.NVMLError, AttributeError) as exc:
            raise GpuError(f"MIG device {mig_uuid} not found (NVML: {exc})") from None

