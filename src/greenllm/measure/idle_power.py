"""Idle power at each GPU setting: a short window with the engine up and nothing in
flight, measured once per instance and setting (``<out>/idle_power/<label>.json``; a
resumed run reuses it). It is the fixed cost the energy split charges to every second
(``measure.energy_phases``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from greenllm import atomic
from greenllm.engine.base import Engine
from greenllm.gpu import Gpu, clock_stats, window_energy


def idle_power(engine: Engine, gpu: Gpu, out: Path, label: str,
               window_s: float) -> dict[str, Any] | None:
    """The idle record at setting ``label`` (None when ``window_s`` is 0, or on the virtual
    engine, whose clock does not pass while nothing is sent: not measured)."""
    path = out / "idle_power" / f"{label}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    if not window_s > 0 or engine.kind == "virtual":
        return None
    sampler = engine.sampler(gpu)  # the engine's telemetry: the same columns and clock
    with sampler:
        t0 = time.monotonic()
        time.sleep(float(window_s))
        t1 = time.monotonic()
    frame = sampler.frame()
    # a margin inside the samples: window_energy needs samples bracketing the window
    t0 = max(t0, float(frame["t_mono"].min())) + 0.05
    t1 = min(t1, float(frame["t_mono"].max())) - 0.05
    if frame.empty or t1 <= t0:
        return None
    we = window_energy(frame, t0, t1)
    record = {
        "label": label,
        "power_w": we.power_mean_w,  # all GPUs of the instance, from the energy counter
        "window_s": we.window_s,
        "energy_j": we.energy_j,
        "sm_clock_mhz": clock_stats(frame, t0, t1),
        "flags": list(we.flags),
        "measured_at": time.time(),
    }
    atomic.write_json(path, record)
    return record
