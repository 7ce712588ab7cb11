"""The GPU knobs in ``greenllm measure``: checks before any GPU time, permissions, and
what a cell's summary records about them. ``clock_mode`` and ``check_clocks_supported``
are the SM clock's (pin or observe; a clock outside the card's range); the rest are the
power-limit and memory-clock axes. ``measure/run.py`` calls these with a line each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig

from greenllm.errors import ClockPermissionError, ConfigError
from greenllm.gpu.base import ClockPlan, Gpu
from greenllm.measure.cell_store import note
from greenllm.sweep_axes import KnobSetting


def static_problems(cfg: Any) -> Iterator[str]:
    """Config-only problems of the two axes (one line each)."""
    for watts in cfg.clocks.power_limit_w:
        if isinstance(watts, bool) or not float(watts) > 0:
            yield f"clocks.power_limit_w has {watts!r}: power limits are watts > 0"
    for mhz in cfg.clocks.memory_mhz:
        if isinstance(mhz, bool) or int(mhz) != mhz or mhz <= 0:
            yield f"clocks.memory_mhz has {mhz!r}: memory clocks are whole MHz > 0"


def denied_gpus(cfg: DictConfig, gpu: Gpu) -> list[int]:
    """GPUs on which a knob the config sweeps may not be set (nothing is changed to find out)."""
    denied = [i for i in gpu.indices if not gpu.clock_control_permitted(i)]
    if list(cfg.clocks.power_limit_w):
        denied += [i for i in gpu.indices
                   if i not in denied and not gpu.power_limit_control_permitted(i)]
    return denied


def check_supported(cfg: DictConfig, gpu: Gpu, mode: str) -> None:
    """Every power limit within every GPU's range, every memory clock one it lists."""
    if mode != "pin":
        return
    for i in gpu.indices:
        info = gpu.info(i)
        lo, hi = info.power_limit_min_w, info.power_limit_max_w
        for watts in cfg.clocks.power_limit_w:
            if lo is None or hi is None:
                raise ConfigError(f"GPU {i} ({info.name}) reports no power-limit range, so "
                                  "clocks.power_limit_w cannot be swept on it")
            if not lo <= float(watts) <= hi:
                raise ConfigError(f"power limit {float(watts):g} W is outside GPU {i}'s range "
                                  f"{lo:g}-{hi:g} W ({info.name})")
        listed = info.supported_memory_clocks_mhz
        for mhz in cfg.clocks.memory_mhz:
            if int(mhz) not in listed:
                raise ConfigError(f"memory clock {int(mhz)} MHz is not one GPU {i} lists "
                                  f"({', '.join(map(str, listed)) or 'none'} MHz, {info.name})")


def knob_record(setting: KnobSetting, plan: ClockPlan) -> dict[str, Any]:
    """The cell summary's ``clock`` keys for the power limit and memory clock
    (docs/results-format.md): what was asked for and what was read (set or found)."""
    watts = list(plan.power_limit_readback_w.values())
    mems = list(plan.memory_clock_readback_mhz.values())
    return {
        "axis": setting.axis,
        "requested_power_limit_w": setting.power_limit_w,
        "power_limit_w": max(watts) if watts else None,
        "requested_memory_clock_mhz": setting.memory_mhz,
        "memory_clock_mhz": max(mems) if mems else None,
        # idle power at this setting, all GPUs (measure.idle_power; None: not measured)
        "idle_power_w": (plan.idle or {}).get("power_w"),
        "idle_window_s": (plan.idle or {}).get("window_s"),
    }


def clock_mode(cfg: Any, gpu: Gpu) -> str:
    """``pin`` or ``observe``: what this run may do with the SM clock (a one-line error
    where pinning was asked for, is denied, and no fallback is allowed)."""
    if cfg.clocks.mode == "observe":
        return "observe"
    denied = denied_gpus(cfg, gpu)
    if not denied:
        return "pin"
    if cfg.clocks.fallback_to_observe:
        note("WARNING: clock pinning is not permitted here (needs root or an admin grant); "
             "measuring in observe mode: clocks are read, not set, and results say so")
        return "observe"
    raise ClockPermissionError(
        f"pinning clocks on GPU(s) {denied} is not permitted (needs root or an admin grant); "
        "use clocks=observe or clocks.fallback_to_observe=true"
    )


def check_clocks_supported(cfg: Any, gpu: Gpu, mode: str) -> None:
    """A one-line error for a clock (or power limit, memory clock) the GPU cannot set."""
    if mode != "pin":
        return
    for i in gpu.indices:
        supported = gpu.info(i).supported_sm_clocks_mhz
        lo, hi = min(supported), max(supported)
        for mhz in cfg.clocks.mhz:
            if not lo <= mhz <= hi:
                raise ConfigError(f"clock {mhz} MHz is not supported by GPU {i} ({lo}-{hi} MHz)")
    check_supported(cfg, gpu, mode)
