"""Run-to-run jitter of the simulator: why two identical runs differ, and by how much.

A real GPU run differs from the next identical one (docs/uncertainty.md). In the
virtual engine every repeat draws a new arrival sample (its seed), and each load also
draws run-to-run factors from its seed, held for the whole run (lognormal, median 1):

* ``time_scale`` (``sigma_time``): every iteration lasts this much longer;
* ``power_scale`` (``sigma_power``): every drawn watt is this much higher;
* ``latency_scale`` (``sigma_latency``): the request latency that occupies nothing
  (network, IPC, wake-ups: ``request_overhead_s`` beyond the frontend's share).

Calibration (docs/calibration.md, "Run-to-run jitter"): ``measured_spread()`` reads the
spread over five interleaved repeats of the 13B reference cells on the lent H100 (median
CV over load points of TBT p50, mean window power and TTFT p50); ``reference_spread()``
replays those load points in virtual time, each repeat with its own arrival sample and
jitter draw. The sigmas are the smallest that make the simulated spread reach the
measured one: the arrival sample alone already gives the simulator more TBT and power
spread than the card showed (so ``sigma_time = sigma_power = 0``), but only about half
the card's TTFT spread, and the host-side latency factor supplies the rest. The 1.1B
cells are left out: their spread is the host noise of a frontend-bound small model.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Fitted with reference_spread(..., repeats=20) against measured_spread() (module doc):
# TBT/power spread from arrivals alone 0.019/0.052 > measured 0.014/0.029, hence 0;
# TTFT 0.023 from arrivals alone < measured 0.041: latency sigma 0.24 closes it.
SIGMA_TIME = 0.0
SIGMA_POWER = 0.0
SIGMA_LATENCY = 0.24
CALIBRATION_CELLS = "h100_llama2-13b_tp1_b64"


@dataclass(frozen=True)
class Jitter:
    """Lognormal run-to-run factors; ``Jitter(0, 0, 0)`` switches them off."""

    sigma_time: float = SIGMA_TIME
    sigma_power: float = SIGMA_POWER
    sigma_latency: float = SIGMA_LATENCY

    def draw(self, seed: int) -> tuple[float, float, float]:
        """(time_scale, power_scale, latency_scale) of the run with this seed."""
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6A17])
        z = rng.standard_normal(3)
        return (math.exp(self.sigma_time * z[0]), math.exp(self.sigma_power * z[1]),
                math.exp(self.sigma_latency * z[2]))


def measured_spread(reference_root: Path,
                    cells: str = CALIBRATION_CELLS) -> tuple[float, float, float]:
    """(median CV of TBT p50, of mean window power, of TTFT p50) over the load points of
    ``cells`` folders under ``reference_root`` that have >= 3 repeats."""
    groups: dict[tuple[str, str, str], list[tuple[float, float, float]]] = {}
    for path in sorted(reference_root.glob(f"*/{cells}/cells/*/*/summary.json")):
        summary = json.loads(path.read_text())
        for p in summary.get("load_points", []):
            tbt = (p.get("tbt_s") or {}).get("p50")
            power = (p.get("energy") or {}).get("power_mean_w")
            ttft = (p.get("ttft_s") or {}).get("p50")
            if tbt is None or power is None or ttft is None:
                continue
            key = (str(path.parent), summary["workload"]["id"], p["name"])
            groups.setdefault(key, []).append((float(tbt), float(power), float(ttft)))
    cvs: tuple[list[float], list[float], list[float]] = ([], [], [])
    for values in groups.values():
        if len(values) < 3:
            continue
        for col, out in enumerate(cvs):
            xs = [v[col] for v in values]
            out.append(statistics.stdev(xs) / statistics.fmean(xs))
    if not cvs[0]:
        raise FileNotFoundError(f"no repeated load points of {cells} under {reference_root}")
    return statistics.median(cvs[0]), statistics.median(cvs[1]), statistics.median(cvs[2])


def reference_spread(jitter: Jitter, reference_root: Path, cells: str = CALIBRATION_CELLS,
                     repeats: int = 5) -> tuple[float, float, float]:
    """What ``measured_spread`` measures, on the simulator: the reference's load points
    (model, workload, rate, request count) replayed ``repeats`` times in virtual time,
    each repeat with its own arrival sample and jitter draw, as the virtual engine runs
    repeats. (median CV of TBT p50, of mean window power, of TTFT p50)."""
    from greenllm.load.arrivals import arrival_offsets_s
    from greenllm.load.shapes import SHAPES
    from greenllm.sim.gpu_models import simulated_gpu
    from greenllm.sim.model_shape import ModelShape
    from greenllm.sim.offline import simulate_load
    from greenllm.sim.perf_model import PerfModel
    from greenllm.sim.virtual_load import point_metrics

    gpu = simulated_gpu("h100-sxm")
    points: dict[tuple[str, str], tuple[dict, dict, int]] = {}
    for path in sorted(reference_root.glob(f"*/{cells}/cells/*/*/summary.json")):
        summary = json.loads(path.read_text())
        for p in summary.get("load_points", []):
            if p.get("rate_rps"):
                points[(summary["workload"]["id"], p["name"])] = (
                    summary["instance"], {**summary["workload"], "rate": p["rate_rps"]},
                    int(p["n_requests"]))
    cv_time, cv_power, cv_ttft = [], [], []
    for inst, wl, n in points.values():
        shape = SHAPES[inst["model"]]
        heads = int(shape["num_attention_heads"])
        perf = PerfModel(ModelShape(
            hidden_size=int(shape["hidden_size"]), num_layers=int(shape["num_hidden_layers"]),
            num_heads=heads, num_kv_heads=int(shape["num_key_value_heads"]),
            intermediate_size=int(shape["intermediate_size"]),
            vocab_size=int(shape["vocab_size"]), head_dim=int(shape["hidden_size"]) // heads),
            gpu.perf, int(inst["tp"]))
        tbt, power, ttft = [], [], []
        for seed in range(repeats):
            time_scale, power_scale, latency_scale = jitter.draw(1000 + seed)
            res = simulate_load(perf, input_tokens=int(wl["input_tokens"]),
                                output_tokens=int(wl["output_tokens"]), rate_rps=1.0,
                                n_requests=n, max_num_seqs=int(inst["max_batch"]),
                                gpu_spec=gpu.power,
                                arrivals_s=arrival_offsets_s("poisson", wl["rate"], n, seed),
                                time_scale=time_scale, power_scale=power_scale,
                                latency_scale=latency_scale)
            m = point_metrics(res, int(wl["output_tokens"]))
            tbt.append(float(np.median(res.itl_s)))
            ttft.append(float(m["ttft_p50_s"] or math.nan))
            power.append(float(m["power_mean_w"] or math.nan))
        cv_time.append(statistics.stdev(tbt) / statistics.fmean(tbt))
        cv_power.append(statistics.stdev(power) / statistics.fmean(power))
        cv_ttft.append(statistics.stdev(ttft) / statistics.fmean(ttft))
    return statistics.median(cv_time), statistics.median(cv_power), statistics.median(cv_ttft)
