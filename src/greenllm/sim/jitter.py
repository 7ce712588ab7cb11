"""Run-to-run jitter of the simulator: why two identical runs differ, and by how much.

A real GPU run differs from the next identical one even with the same arrival schedule
(docs/uncertainty.md: kernels, host scheduling, clocks and temperature drift between
runs). The simulator is deterministic, so without a model of that noise its repeats
would only sample the arrival process and the 95 % intervals of the figures would be
too narrow. Each simulated run therefore draws two factors from its seed, held for the
whole run:

* ``time_scale`` ~ lognormal(0, ``sigma_time``): every iteration lasts this much longer;
* ``power_scale`` ~ lognormal(0, ``sigma_power``): every drawn watt is this much higher.

The sigmas are the spread measured on the lent H100 (reports/reference/, five
interleaved repeats per load point): ``sigma_time`` the median coefficient of variation
of TBT p50 over repeats (TBT is the decode step, insensitive to the arrival sample),
``sigma_power`` the median CV of the mean power of the energy window. Only the 13B cells
are used: the 1.1B model is bound by the Python frontend, whose noise is host noise and
not what a 70B model on 8 GPUs sees. ``measured_spread()`` recomputes both numbers from
the committed data (a test keeps the constants in step; docs/calibration.md).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# median CV over the 13B reference load points (reports/reference/h100-2026-11-25-s2),
# rounded to two significant digits; see measured_spread().
SIGMA_TIME = 0.014
SIGMA_POWER = 0.029
CALIBRATION_CELLS = "h100_llama2-13b_tp1_b64"


@dataclass(frozen=True)
class Jitter:
    """Lognormal run-to-run factors; ``Jitter(0, 0)`` switches them off."""

    sigma_time: float = SIGMA_TIME
    sigma_power: float = SIGMA_POWER

    def draw(self, seed: int) -> tuple[float, float]:
        """(time_scale, power_scale) of the run with this seed."""
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6A17])
        z = rng.standard_normal(2)
        return (math.exp(self.sigma_time * z[0]), math.exp(self.sigma_power * z[1]))


def measured_spread(reference_root: Path, cells: str = CALIBRATION_CELLS) -> tuple[float, float]:
    """(median CV of TBT p50, median CV of mean window power) over the load points of
    ``cells`` folders under ``reference_root`` that have >= 3 repeats."""
    groups: dict[tuple[str, str, str], list[tuple[float, float]]] = {}
    for path in sorted(reference_root.glob(f"*/{cells}/cells/*/*/summary.json")):
        summary = json.loads(path.read_text())
        for p in summary.get("load_points", []):
            tbt = (p.get("tbt_s") or {}).get("p50")
            power = (p.get("energy") or {}).get("power_mean_w")
            if tbt is None or power is None:
                continue
            key = (str(path.parent), summary["workload"]["id"], p["name"])
            groups.setdefault(key, []).append((float(tbt), float(power)))
    cv_time, cv_power = [], []
    for values in groups.values():
        if len(values) < 3:
            continue
        for out, col in ((cv_time, 0), (cv_power, 1)):
            xs = [v[col] for v in values]
            out.append(statistics.stdev(xs) / statistics.fmean(xs))
    if not cv_time:
        raise FileNotFoundError(f"no repeated load points of {cells} under {reference_root}")
    return statistics.median(cv_time), statistics.median(cv_power)
