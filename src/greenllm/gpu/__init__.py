"""GPU layer: read energy/power/clocks, pin clocks safely, sample telemetry.

``NvmlGpu`` (real GPUs via pynvml) and ``SimGpu`` (simulated, shared across processes)
implement one ``Gpu`` interface; ``open_gpus`` picks one by backend name. ``pin_clocks``
locks/verifies/restores clocks; ``TelemetrySampler`` + ``window_energy`` measure energy.
See docs/gpu.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from greenllm.gpu.base import ClockPlan, Gpu, GpuInfo, Sample
from greenllm.gpu.factory import open_gpus
from greenllm.gpu.pinning import change_pinned_clock, classify_readback, pin_clocks, snap_clock
from greenllm.gpu.reasons import decode_reasons
from greenllm.gpu.selection import resolve_gpus
from greenllm.gpu.sim import SimGpu, SimGpuSpec

if TYPE_CHECKING:
    from greenllm.gpu.nvml import NvmlGpu
    from greenllm.gpu.telemetry import (
        TelemetrySampler,
        WindowEnergy,
        clock_stats,
        throttle_names,
        window_energy,
    )

# Imported on first use: pynvml and numpy/pandas are not needed by every process
# (e.g. the simulated engine only calls SimGpu.set_load).
_LAZY = {
    "NvmlGpu": "greenllm.gpu.nvml",
    "TelemetrySampler": "greenllm.gpu.telemetry",
    "WindowEnergy": "greenllm.gpu.telemetry",
    "window_energy": "greenllm.gpu.telemetry",
    "clock_stats": "greenllm.gpu.telemetry",
    "throttle_names": "greenllm.gpu.telemetry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'greenllm.gpu' has no attribute {name!r}")


__all__ = [
    "ClockPlan",
    "Gpu",
    "GpuInfo",
    "NvmlGpu",
    "Sample",
    "SimGpu",
    "SimGpuSpec",
    "TelemetrySampler",
    "WindowEnergy",
    "classify_readback",
    "clock_stats",
    "decode_reasons",
    "open_gpus",
    "change_pinned_clock",
    "pin_clocks",
    "resolve_gpus",
    "snap_clock",
    "throttle_names",
    "window_energy",
]
