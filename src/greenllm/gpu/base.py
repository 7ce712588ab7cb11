"""The one GPU interface every other part of greenllm talks to.

Units are in the names: ``_mj`` millijoules, ``_w`` watts, ``_mhz`` megahertz, ``_c``
degrees Celsius. ``NvmlGpu`` (real, through pynvml) and ``SimGpu`` (simulated) implement
it; callers never import pynvml themselves.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from greenllm.errors import GpuError


@dataclass(frozen=True)
class GpuInfo:
    """Static facts about one GPU, recorded with every result for provenance."""

    index: int  # NVML index (physical, not CUDA_VISIBLE_DEVICES-relative)
    uuid: str
    name: str
    driver: str
    power_limit_w: float
    supported_sm_clocks_mhz: tuple[int, ...]  # ascending, at the highest memory clock
    memory_clock_mhz: int
    default_sm_clock_mhz: int | None = None
    simulated: bool = False
    # The power limit's settable range and driver default (None: the card does not say),
    # and every memory clock it lists (ascending; empty: none listed).
    power_limit_min_w: float | None = None
    power_limit_max_w: float | None = None
    default_power_limit_w: float | None = None
    supported_memory_clocks_mhz: tuple[int, ...] = ()


@dataclass(frozen=True)
class Sample:
    """One telemetry reading of one GPU."""

    index: int
    t_mono: float  # time.monotonic() seconds (system-wide on Linux)
    t_wall: float  # time.time() seconds
    energy_mj: float  # total energy counter since driver load
    power_instant_w: float  # NVML_FI_DEV_POWER_INSTANT (or 1 s average where unsupported)
    power_avg_w: float  # nvmlDeviceGetPowerUsage: a 1 s trailing average on H100
    sm_clock_mhz: int
    mem_clock_mhz: int
    temperature_c: float
    throttle_reasons: int  # bitmask of NVML clock-event reasons; decode with decode_reasons()
    utilization_pct: float | None = None


class Gpu(abc.ABC):
    """A set of GPUs (one instance's worth) that can be read and clock-controlled.

    Indices passed to methods are positions in ``self.indices`` order's physical NVML
    indices, i.e. exactly the values of ``self.indices``.
    """

    simulated: bool = False

    @property
    @abc.abstractmethod
    def indices(self) -> tuple[int, ...]:
        """Physical NVML indices of the GPUs this object manages."""

    @abc.abstractmethod
    def info(self, index: int) -> GpuInfo: ...

    @abc.abstractmethod
    def sample(self, index: int, *, energy: bool = True) -> Sample:
        """Read energy, power, clocks, temperature and throttle reasons now.

        ``energy=False`` skips the energy counter (``energy_mj`` is NaN): on H100 with
        driver 580 that one NVML call costs ~4 ms of CPU, every other read microseconds,
        and the counter only updates every 100 ms anyway.
        """

    @abc.abstractmethod
    def instant_power_supported(self, index: int) -> bool:
        """Whether ``Sample.power_instant_w`` is a true instant reading (else 1 s avg)."""

    @abc.abstractmethod
    def clock_control_permitted(self, index: int) -> bool:
        """Whether locking clocks would be allowed, found out without changing anything."""

    @abc.abstractmethod
    def lock_sm_clock(self, index: int, mhz: int) -> None:
        """Lock the SM clock at ``mhz`` (min = max). Raises ClockPermissionError/GpuError."""

    @abc.abstractmethod
    def reset_sm_clock(self, index: int) -> None:
        """Undo ``lock_sm_clock``: let the driver choose the clock again."""

    # -- the other knobs: power limit and memory clock ------------------------------
    # Not abstract: a backend without them says so in one line when asked to set them.

    def power_limit_w(self, index: int) -> float:
        """The power limit in force now (W)."""
        return self.info(index).power_limit_w

    def power_limit_control_permitted(self, index: int) -> bool:
        """Whether setting the power limit would be allowed, found out without changing
        anything (NVML: root only)."""
        return self.clock_control_permitted(index)

    def set_power_limit(self, index: int, watts: float) -> None:
        """Set the power limit to ``watts``. Raises ClockPermissionError/GpuError."""
        raise GpuError(f"setting the power limit is not supported by {type(self).__name__}")

    def lock_memory_clock(self, index: int, mhz: int) -> None:
        """Lock the memory clock at ``mhz`` (one of ``supported_memory_clocks_mhz``)."""
        raise GpuError(f"locking the memory clock is not supported by {type(self).__name__}")

    def reset_memory_clock(self, index: int) -> None:
        """Undo ``lock_memory_clock``: let the driver choose the memory clock again."""
        raise GpuError(f"resetting the memory clock is not supported by {type(self).__name__}")

    def reopen_args(self) -> dict[str, object]:
        """How another process opens these GPUs again (stored in clock-pin markers so
        that ``greenllm clocks reset`` can restore clocks after a crash).

        ``{"backend": "nvml"}`` or ``{"backend": "sim", "sim_state_path": ...}``; see
        ``greenllm.gpu.factory.open_gpus``.
        """
        return {"backend": "unknown"}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (NVML shutdown)."""

    def __enter__(self) -> "Gpu":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class ClockPlan:
    """What a clock pin asked for and what it got, recorded in results."""

    mode: str  # "pin" or "observe"
    requested_mhz: int | None
    applied_mhz: int | None = None  # after snapping to a supported clock
    snapped: bool = False
    verified: bool | None = None
    readback_mhz: dict[int, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The power limit and memory clock: asked for (None: left as it is), and read back
    # after setting (pin) or as found (observe), per GPU.
    requested_power_limit_w: float | None = None
    power_limit_readback_w: dict[int, float] = field(default_factory=dict)
    requested_memory_clock_mhz: int | None = None
    memory_clock_readback_mhz: dict[int, int] = field(default_factory=dict)
    # Idle power at this setting, filled by the caller that measured it
    # (greenllm.measure.idle_power); None: not measured.
    idle: dict[str, object] | None = None
