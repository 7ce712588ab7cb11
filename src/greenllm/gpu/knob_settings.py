"""The power limit and the memory clock inside ``pin_clocks``: check, set, verify, restore.

``pin_clocks`` owns the order and the guarantees (marker before any setter, restore in
``finally``, signals held during the restore); this module holds what is particular to
these two knobs:

* checks before anything is set, each a one-line GpuError: a power limit outside the
  card's range (``nvmlDeviceGetPowerManagementLimitConstraints``) or on a card that does
  not report one; a memory clock the card does not list
  (``nvmlDeviceGetSupportedMemoryClocks``);
* ``KnobsSet``: what was changed on which GPU, and the power limit each GPU had before,
  so the restore puts back exactly that (not the driver default: an admin may have set
  another limit on purpose). The marker stores the same, for ``kill -9``;
* verification by reading back: the power limit in force
  (``nvmlDeviceGetPowerManagementLimit``) within ``POWER_TOLERANCE_W``, the memory clock
  (``nvmlDeviceGetClockInfo(MEM)``) equal to the lock;
* observe mode: both read and recorded, never set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu.base import ClockPlan, Gpu, GpuInfo

POWER_TOLERANCE_W = 0.5  # NVML sets milliwatts; a limit reads back within rounding
MEMORY_TOLERANCE_MHZ = 1


def check_power_limit(info: GpuInfo, watts: float, *, gpu_label: str) -> float:
    """``watts`` as float; one-line GpuError outside the card's settable range."""
    if isinstance(watts, bool) or not float(watts) > 0:
        raise GpuError(f"power limit must be a positive number of watts, got {watts!r}")
    lo, hi = info.power_limit_min_w, info.power_limit_max_w
    if lo is None or hi is None:
        raise GpuError(f"{gpu_label} reports no power-limit range, so its power limit cannot be set")
    if not lo <= float(watts) <= hi:
        raise GpuError(f"power limit {float(watts):g} W is outside the range {lo:g}-{hi:g} W of {gpu_label}")
    return float(watts)


def check_memory_clock(info: GpuInfo, mhz: int, *, gpu_label: str) -> int:
    """``mhz`` as int; one-line GpuError unless the card lists that memory clock."""
    if isinstance(mhz, bool) or int(mhz) != mhz:
        raise GpuError(f"memory clock must be a whole number of MHz, got {mhz!r}")
    listed = info.supported_memory_clocks_mhz
    if int(mhz) not in listed:
        have = ", ".join(map(str, listed)) or "none"
        raise GpuError(f"memory clock {int(mhz)} MHz is not one {gpu_label} lists (listed: {have} MHz)")
    return int(mhz)


def check_requests(gpu: Gpu, indices: tuple[int, ...], power_limit_w: float | None,
                   memory_clock_mhz: int | None) -> None:
    """Every check that can fail before anything is set: values, then permissions."""
    for i in indices:
        info = gpu.info(i)
        label = f"GPU {i} ({info.name})"
        if power_limit_w is not None:
            check_power_limit(info, power_limit_w, gpu_label=label)
        if memory_clock_mhz is not None:
            check_memory_clock(info, memory_clock_mhz, gpu_label=label)
    for i in indices:
        if power_limit_w is not None and not gpu.power_limit_control_permitted(i):
            raise ClockPermissionError(
                f"setting the power limit on GPU {i} is not permitted for this user (needs root, "
                "see docs/gpu.md); use clock mode 'observe'")
        if memory_clock_mhz is not None and not gpu.clock_control_permitted(i):
            raise ClockPermissionError(
                f"locking the memory clock on GPU {i} is not permitted for this user (needs root "
                "or an admin grant, see docs/gpu.md); use clock mode 'observe'")


@dataclass
class KnobsSet:
    """What ``apply`` changed (filled as it goes, so a half-done apply is restored too)."""

    previous_power_limit_w: dict[int, float] = field(default_factory=dict)
    memory_locked: list[int] = field(default_factory=list)


def previous_power_limits(gpu: Gpu, indices: tuple[int, ...]) -> dict[int, float]:
    return {i: gpu.power_limit_w(i) for i in indices}


def apply(gpu: Gpu, indices: tuple[int, ...], power_limit_w: float | None,
          memory_clock_mhz: int | None, previous_w: dict[int, float], done: KnobsSet) -> None:
    for i in indices:
        if memory_clock_mhz is not None:
            done.memory_locked.append(i)  # before the call: a half-applied lock is reset too
            try:
                gpu.lock_memory_clock(i, memory_clock_mhz)
            except ClockPermissionError:
                done.memory_locked.remove(i)  # refused outright: nothing changed
                raise
        if power_limit_w is not None:
            done.previous_power_limit_w[i] = previous_w[i]
            try:
                gpu.set_power_limit(i, power_limit_w)
            except ClockPermissionError:
                del done.previous_power_limit_w[i]
                raise


def verify(gpu: Gpu, indices: tuple[int, ...], power_limit_w: float | None,
           memory_clock_mhz: int | None, plan: ClockPlan, timeout_s: float,
           poll_s: float = 0.01) -> None:
    """Read both knobs back into ``plan``; GpuError if one is not what was set."""
    start = time.monotonic()
    while True:
        bad: list[str] = []
        for i in indices:
            if power_limit_w is not None:
                got_w = gpu.power_limit_w(i)
                plan.power_limit_readback_w[i] = got_w
                if abs(got_w - power_limit_w) > POWER_TOLERANCE_W:
                    bad.append(f"GPU {i} power limit reads {got_w:g} W, not the {power_limit_w:g} W set")
            if memory_clock_mhz is not None:
                got_mhz = gpu.sample(i, energy=False).mem_clock_mhz
                plan.memory_clock_readback_mhz[i] = got_mhz
                if abs(got_mhz - memory_clock_mhz) > MEMORY_TOLERANCE_MHZ:
                    bad.append(f"GPU {i} memory clock reads {got_mhz} MHz, not the locked {memory_clock_mhz} MHz")
        if not bad:
            return
        if time.monotonic() - start >= timeout_s:
            raise GpuError(f"{bad[0]} after setting it: the setting did not take effect")
        time.sleep(poll_s)


def restore(gpu: Gpu, done: KnobsSet) -> list[str]:
    """Put back what ``apply`` changed; returns failures (each 'GPU i: why')."""
    failures: list[str] = []
    for i in done.memory_locked:
        try:
            gpu.reset_memory_clock(i)
        except GpuError as exc:
            failures.append(f"GPU {i}: {exc}")
    for i, watts in done.previous_power_limit_w.items():
        try:
            gpu.set_power_limit(i, watts)
        except GpuError as exc:
            failures.append(f"GPU {i}: {exc}")
    return failures


def observe(gpu: Gpu, indices: tuple[int, ...], plan: ClockPlan) -> None:
    """Record the power limit and memory clock as they are (observe mode)."""
    for i in indices:
        try:
            plan.power_limit_readback_w[i] = gpu.power_limit_w(i)
        except GpuError as exc:
            plan.notes.append(f"GPU {i} power limit not readable: {exc}")
        plan.memory_clock_readback_mhz[i] = gpu.sample(i, energy=False).mem_clock_mhz
    if plan.requested_power_limit_w is not None:
        plan.notes.append(f"requested power limit {plan.requested_power_limit_w:g} W not applied (observe mode)")
    if plan.requested_memory_clock_mhz is not None:
        plan.notes.append(f"requested memory clock {plan.requested_memory_clock_mhz} MHz not applied (observe mode)")
