"""The idle / prefill / decode split of a load point's GPU energy, from the phase
integrals measure stored (``energy.phases``, ``greenllm.measure.energy_phases``) and the
idle power measured at the cell's setting (``clock.idle_power_w``)::

    idle    = E(idle instants) + P_idle * (t_prefill + t_decode)
    prefill = E(prefill instants) - P_idle * t_prefill
    decode  = E(decode instants) - P_idle * t_decode

Every second of the window pays the idle power; prefill and decode get what they draw
above it. The three sum to the power integral over the window
(``energy_split_integral_j``); scaled by ``energy_split_scale`` = counter / integral they
sum to the energy counter (``energy_j``, the reference): the power trace gives the shares,
the counter the level. How far the scale is from 1 is the window's cross-check error.
"""

from __future__ import annotations

import math
from typing import Any

METHOD = "request-timeline"
PHASES = ("idle", "prefill", "decode")


def attribute(phases: dict[str, Any] | None, idle_power_w: float | None,
              counter_j: float | None = None) -> dict[str, Any]:
    """The window's energy split into idle / prefill / decode (see the module doc).

    ``counter_j``: the window's energy-counter reading, the reference. The parts are then
    scaled by ``energy_split_scale`` = counter / power integral so that they sum to it
    (the power trace gives the shares, the counter the level); the scale's distance from 1
    is the window's cross-check disagreement, flagged ``energy_disagreement`` above 2 %."""
    if not phases or phases.get("status") != "ok":
        return {}
    t = {k: float(phases[f"{k}_s"]) for k in PHASES}
    e = {k: float(phases[f"{k}_j"]) for k in PHASES}
    floor = idle_power_w is not None and math.isfinite(float(idle_power_w))
    p_idle = float(idle_power_w) if floor else 0.0
    split = {
        "energy_idle_j": e["idle"] + p_idle * (t["prefill"] + t["decode"]),
        "energy_prefill_j": e["prefill"] - p_idle * t["prefill"],
        "energy_decode_j": e["decode"] - p_idle * t["decode"],
    }
    integral = sum(split.values())
    scale = 1.0
    if counter_j is not None and math.isfinite(float(counter_j)) and integral > 0:
        scale = float(counter_j) / integral
    split = {k: v * scale for k, v in split.items()}
    return {
        **split,
        "energy_split_method": phases.get("method", METHOD) + ("" if floor else ", no idle floor"),
        "energy_split_sum_j": sum(split.values()),
        "energy_split_integral_j": integral,
        "energy_split_scale": scale,
        "prefill_s": t["prefill"],
        "decode_s": t["decode"],
        "idle_s": t["idle"],
        "power_prefill_mean_w": e["prefill"] / t["prefill"] if t["prefill"] else None,
        "power_decode_mean_w": e["decode"] / t["decode"] if t["decode"] else None,
    }
