"""Repeated cell summaries with injected noise of known size, around the synthetic truth.

``synth_cells.cell_summary`` gives a cell's true values; each repeat multiplies every
measured quantity by its own lognormal factor exp(N(0, sigma)), whose median is 1, so the
true value is the median of what the repeats sample: the quantity a CI of the median
over repeats must cover.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import synth_cells

_BLOCKS = ("ttft_s", "tbt_s", "tpot_s", "e2e_s")
_SCALARS = ("throughput_rps", "output_tok_s", "goodput_rps")
_ENERGY = ("energy_j", "energy_integral_j", "energy_per_request_j",
           "energy_per_output_token_j", "power_mean_w", "power_max_w")
BRACKET = 1.05  # the synthetic search brackets: [rps, 1.05 rps]


def _noisy_point(lp: dict[str, Any], repeat: int, rng: np.random.Generator,
                 sigma: float) -> dict[str, Any]:
    out = copy.deepcopy(lp)
    out["repeat"] = repeat
    for name in _BLOCKS:  # one factor per block keeps p50 <= p90 <= p99
        f = float(np.exp(rng.normal(0.0, sigma)))
        out[name] = {k: (v * f if k != "n" else v) for k, v in out[name].items()}
    for name in _SCALARS:
        out[name] *= float(np.exp(rng.normal(0.0, sigma)))
    for name in _ENERGY:
        out["energy"][name] *= float(np.exp(rng.normal(0.0, sigma)))
    return out


def repeated_summary(tp: int, batch: int, clock_mhz: float, wl: str, *, n: int, sigma: float,
                     seed: int, search_repeats: bool = True, **kw: Any) -> dict[str, Any]:
    """One cell measured ``n`` times: load points and (if ``search_repeats``) max-throughput
    searches each scaled by independent lognormal noise of log-sd ``sigma``."""
    truth = synth_cells.cell_summary(tp, batch, clock_mhz, wl, **kw)
    rng = np.random.default_rng(seed)
    summary = copy.deepcopy(truth)
    summary["repeats"] = n
    summary["load_points"] = [_noisy_point(lp, k, rng, sigma)
                              for k in range(n) for lp in truth["load_points"]]
    mt = truth["max_throughput"]
    if search_repeats:
        rps = [mt["rps"] * float(np.exp(rng.normal(0.0, sigma))) for _ in range(n)]
        summary["max_throughput"]["repeats"] = [
            {"repeat": k, "rps": r, "lower_rps": r, "upper_rps": r * BRACKET,
             "converged": True, "probes": []} for k, r in enumerate(rps)]
        first = summary["max_throughput"]["repeats"][0]
        summary["max_throughput"].update(rps=float(np.median(rps)), lower_rps=first["lower_rps"],
                                         upper_rps=first["upper_rps"])
    return summary
