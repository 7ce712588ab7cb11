"""Simulated GPU models, by the name of a ``config/measure/gpu/<name>.yaml``.

The virtual engine turns every GPU config into a simulated GPU: a power law
(``greenllm.gpu.sim.SimGpuSpec``) and peak capabilities (``greenllm.sim.hardware.
GpuPerfSpec``). The config's own clock range and power limit win over the model's
defaults (``simulated_gpu(name, ...)``), so a config that states them stays the truth.
Which constants of each model were measured and which are assumed is listed in
``measured`` / ``assumed`` and in docs/calibration.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from greenllm.errors import ConfigError
from greenllm.gpu.sim import SimGpuSpec
from greenllm.sim.hardware import GpuPerfSpec


@dataclass(frozen=True)
class SimulatedGpuModel:
    name: str
    power: SimGpuSpec
    perf: GpuPerfSpec
    measured: tuple[str, ...]  # constants fitted to or read on a real card of this model
    assumed: tuple[str, ...]  # constants carried over from another model or a datasheet


def _h100() -> SimulatedGpuModel:
    return SimulatedGpuModel(
        name="h100-sxm", power=SimGpuSpec.h100_sxm(), perf=GpuPerfSpec.h100_sxm(),
        measured=("clock range and step (lent H100, NVML)", "idle and static power",
                  "clock_base_w, attention/small-kernel SM activity (reference mean power)",
                  "power limiter time constant (bounded by instant-power samples)",
                  "compute/memory/KV efficiencies, overheads (reports/reference fit)",
                  "run-to-run jitter (repeats of the 13B reference cells)"),
        assumed=("compute_w, memory split SM/HBM", "voltage curve v_min_rel",
                 "thermal constants", "NVLink efficiency and all-reduce latency (no multi-GPU "
                 "reference: TP > 1 is not validated)"),
    )


def _h200() -> SimulatedGpuModel:
    # One H200 for every engine: the live sim's spec (SimGpuSpec.h200, GpuPerfSpec.h200;
    # the H100's die, clocks and power law with 141 GB HBM3e at 4.8 TB/s).
    power, perf = SimGpuSpec.h200(), GpuPerfSpec.h200()
    return SimulatedGpuModel(
        name="h200", power=power, perf=perf,
        measured=("datasheet: bf16 peak, HBM bandwidth and size, NVLink, 700 W limit",
                  "NVML on the lent H200: SM clocks 345-1980 MHz, memory clocks 2201/3201 "
                  "MHz, power limit 200-700 W"),
        assumed=("every power-law constant (the H100's)", "efficiencies and overheads "
                 "(the H100 fit)", "run-to-run jitter (the H100's)"),
    )


_MODELS = {"h100-sxm": _h100, "h100": _h100, "h200": _h200, "h200-sxm": _h200}


def known_gpu_models() -> list[str]:
    return sorted(_MODELS)


def simulated_gpu(name: str, *, max_sm_clock_mhz: int | None = None,
                  min_sm_clock_mhz: int | None = None,
                  power_limit_w: float | None = None) -> SimulatedGpuModel:
    """The simulated model of GPU config ``name``; a ConfigError (one line) when none."""
    make = _MODELS.get(str(name).lower())
    if make is None:
        raise ConfigError(f"engine=virtual has no simulated GPU model for gpu={name!r}: "
                          f"known: {', '.join(known_gpu_models())} (greenllm.sim.gpu_models)")
    model = make()
    changes: dict[str, float | int] = {}
    if max_sm_clock_mhz is not None:
        changes["max_sm_clock_mhz"] = int(max_sm_clock_mhz)
    if min_sm_clock_mhz is not None:
        changes["min_sm_clock_mhz"] = int(min_sm_clock_mhz)
    if power_limit_w is not None:
        changes["power_limit_w"] = float(power_limit_w)
    if changes:
        model = replace(model, power=replace(model.power, **changes))
    return model
