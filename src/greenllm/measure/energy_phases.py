"""Where a load point's GPU energy goes: idle, prefill and decode (request timeline).

Method ``request-timeline``: the client's own per-request timestamps say, at every
instant of the energy window, what the engine has to do. An instant is

* **prefill** while any request is between its send and its first token (waiting for or
  in prefill: queueing before prefill counts here, so at high load this share is an
  upper bound on prefill compute);
* else **decode** while any request is between its first and last token;
* else **idle** (nothing in flight).

The instant power of the telemetry (summed over the instance's GPUs, trapezoids between
samples, cut at every phase change) is integrated over each phase's instants:
``phase_energy`` (stored per load point as ``energy.phases``).
``greenllm.analysis.energy_split.attribute`` then splits
the window's energy with the idle power measured at the cell's clock
(``measure.idle_power``): every second of the window pays the idle power (the fixed cost
of keeping the card up), and prefill and decode get what they draw above it::

    idle    = E(idle instants) + P_idle * (t_prefill + t_decode)
    prefill = E(prefill instants) - P_idle * t_prefill
    decode  = E(decode instants) - P_idle * t_decode

The three sum to the power integral, which agrees with the energy counter within the
window's cross-check error (``disagreement``, ``integral_noise``). Without an idle
measurement the phases keep their gross energy (``idle_floor: false``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

METHOD = "request-timeline"
PHASES = ("idle", "prefill", "decode")


def _power_series(telemetry: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(t, P): instant power summed over GPUs per sampler tick, in time order."""
    per_tick = telemetry.groupby("tick", sort=True).agg(t=("t_mono", "mean"),
                                                         p=("power_instant_w", "sum"))
    per_tick = per_tick.sort_values("t")
    return per_tick["t"].to_numpy(dtype=float), per_tick["p"].to_numpy(dtype=float)


def _intervals(requests: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted prefill starts/ends and decode starts/ends of every request that was sent."""
    send = requests["send_s"].to_numpy(dtype=float)
    first = requests["first_token_s"].to_numpy(dtype=float)
    last = requests["last_token_s"].to_numpy(dtype=float)
    end = requests["end_s"].to_numpy(dtype=float) if "end_s" in requests else last
    sent = np.isfinite(send)
    # a request that never got a token was in "prefill" until it ended (failed)
    pre_end = np.where(np.isfinite(first), first, np.where(np.isfinite(end), end, send))
    has_dec = sent & np.isfinite(first) & np.isfinite(last)
    return (np.sort(send[sent]), np.sort(pre_end[sent]),
            np.sort(first[has_dec]), np.sort(last[has_dec]))


def _active(starts: np.ndarray, ends: np.ndarray, t: np.ndarray) -> np.ndarray:
    """How many [start, end) intervals hold each time in ``t``."""
    return np.searchsorted(starts, t, side="right") - np.searchsorted(ends, t, side="right")


def phase_energy(telemetry: pd.DataFrame, requests: pd.DataFrame, t0: float,
                 t1: float) -> dict[str, Any]:
    """Seconds and joules of each phase in [t0, t1] (``energy.phases`` of a load point)."""
    out: dict[str, Any] = {"method": METHOD}
    t, p = _power_series(telemetry)
    if len(t) < 2 or not t1 > t0 or t[0] > t0 or t[-1] < t1:
        out["status"] = "no telemetry covering the window"
        return out
    pre_s, pre_e, dec_s, dec_e = _intervals(requests)
    events = np.concatenate([pre_s, pre_e, dec_s, dec_e])
    cuts = np.unique(np.concatenate([[t0, t1], t[(t > t0) & (t < t1)],
                                     events[(events > t0) & (events < t1)]]))
    power = np.interp(cuts, t, p)
    mid = 0.5 * (cuts[:-1] + cuts[1:])
    dt = np.diff(cuts)
    joules = 0.5 * (power[:-1] + power[1:]) * dt
    prefill = _active(pre_s, pre_e, mid) > 0
    decode = ~prefill & (_active(dec_s, dec_e, mid) > 0)
    idle = ~prefill & ~decode
    for name, mask in (("idle", idle), ("prefill", prefill), ("decode", decode)):
        out[f"{name}_s"] = float(dt[mask].sum())
        out[f"{name}_j"] = float(joules[mask].sum())
    out["integral_j"] = float(joules.sum())
    out["status"] = "ok"
    return out
