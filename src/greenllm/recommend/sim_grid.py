"""A planner's input table from the simulator in virtual time (SIMULATED, not measured).

Until ``engine=virtual`` (the simulator in virtual time behind ``greenllm measure``)
lands, ``greenllm recommend grid`` builds the cells table the planner reads from
``greenllm.sim.offline`` directly: for each configuration (TP x max batch x clock) and
workload, the SLO from requests alone at the highest clock, the max throughput under it
(virtual-time bisection, one search per repeat with its own seed) and the load points
``low/medium/high`` at 0.25/0.5/0.9 of it, each repeated with its own arrival seed. The
rows have the columns of ``greenllm.analysis.flatten.COLUMNS`` (engine ``virtual``,
``simulated`` true), so ``statistics_table`` gives the medians and 95 % CIs the planner
needs, exactly as for measured cells. Point the planner at a measured table instead
(``workflow/rules/plans.smk``: ``plans.table``) and nothing else changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenllm.analysis.flatten import rows_to_frame
from greenllm.calibrate.clock_sweep import SEARCH_PAPER, baseline_slo, shape_of
from greenllm.gpu.sim import SimGpuSpec
from greenllm.load.workloads import PAPER_WORKLOADS, Workload
from greenllm.sim.hardware import GpuPerfSpec
from greenllm.sim.offline import OfflineResult
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.virtual_load import (
    Arrivals,
    ProbeSizing,
    SloSpec,
    VirtualInstance,
    max_rate_under_slo,
)

LOAD_FRACTIONS = {"low": 0.25, "medium": 0.5, "high": 0.9}  # config/measure/load/paper.yaml
LOAD_SIZING = ProbeSizing(200, 20.0, 180.0)


@dataclass(frozen=True)
class GridSpec:
    model: str = "llama2-70b"
    tps: Sequence[int] = (2, 4, 8)
    max_batches: Sequence[int] = (16, 64)
    clocks_mhz: Sequence[int] = (1000, 1400, 1980)
    workloads: Sequence[Workload] = field(default_factory=lambda: tuple(PAPER_WORKLOADS))
    repeats: int = 3
    slo_scale: float = 3.0
    slo_percentile: float = 90.0


def run_metrics(res: OfflineResult, output_tokens: int, slo: SloSpec,
                ramp_fraction: float = 0.1) -> dict[str, Any]:
    """A load point's table columns from a virtual run (as ``greenllm measure`` reduces)."""
    arrivals = np.asarray(res.arrivals_s)
    first, last = np.asarray(res.first_token_s), np.asarray(res.last_token_s)
    ttft = first - arrivals
    tpot = (last - first) / max(output_tokens - 1, 1)
    itl = np.asarray(res.itl_s) if res.itl_s else np.zeros(1)
    good = (ttft <= slo.ttft_s) & ((tpot <= slo.tbt_s) | (output_tokens < 2))
    sends = np.sort(arrivals)
    t0 = float(sends[min(len(sends) - 1, int(len(sends) * ramp_fraction))])
    t1 = float(sends[-1])
    t = np.concatenate(([0.0], res.trace_t_s))
    e = np.concatenate(([0.0], res.trace_energy_j))
    energy = float(np.interp(t1, t, e) - np.interp(t0, t, e))
    sent = int(np.count_nonzero((sends >= t0) & (sends < t1)))
    span = float(arrivals[-1] - arrivals[0])
    row: dict[str, Any] = {
        "n_requests": float(len(arrivals)), "n_ok": float(len(arrivals)), "n_failed": 0.0,
        "duration_s": res.duration_s, "throughput_rps": (len(arrivals) - 1) / span if span else None,
        "slo_attainment": float(good.mean()), "window_s": t1 - t0, "energy_j": energy,
        "energy_per_request_j": energy / sent if sent else None,
        "energy_per_output_token_j": energy / (sent * output_tokens) if sent else None,
        "power_mean_w": energy / (t1 - t0) if t1 > t0 else None,
    }
    for name, values in (("ttft", ttft), ("tbt", itl), ("tpot", tpot), ("e2e", last - arrivals)):
        for stat in ("p50", "p90", "p99"):
            row[f"{name}_{stat}_s"] = float(np.percentile(values, float(stat[1:])))
        row[f"{name}_mean_s"] = float(np.mean(values))
    row["output_tok_s"] = row["throughput_rps"] * output_tokens if row["throughput_rps"] else None
    return row


def build_grid(spec: GridSpec, progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The cells table (one row per config x workload x load point x repeat)."""
    gpu = SimGpuSpec.h100_sxm()
    rows: list[dict[str, Any]] = []
    t_start = time.monotonic()
    top = max(spec.clocks_mhz)
    for tp in spec.tps:
        perf = PerfModel(shape_of(spec.model), GpuPerfSpec.h100_sxm(), tp)
        for batch in spec.max_batches:
            iid = f"{spec.model}_tp{tp}_b{batch}"
            for wl in spec.workloads:
                slo, start = baseline_slo(VirtualInstance(perf, batch, clock_mhz=top, gpu_spec=gpu),
                                          wl, spec.slo_scale, spec.slo_percentile)
                for mhz in spec.clocks_mhz:
                    inst = VirtualInstance(perf, batch, clock_mhz=mhz, gpu_spec=gpu)
                    rows += _cell_rows(spec, inst, iid, tp, batch, mhz, wl, slo, start, top)
            if progress:
                progress(f"grid: {iid} done ({time.monotonic() - t_start:.0f} s)")
    return rows_to_frame(rows)


def _cell_rows(spec: GridSpec, inst: VirtualInstance, iid: str, tp: int, batch: int,
               mhz: int, wl: Workload, slo: SloSpec, start: float, top: int) -> list[dict[str, Any]]:
    base = {
        "instance_id": iid, "model": spec.model, "tp": tp, "max_batch": batch,
        "engine": "virtual", "n_gpus": float(tp), "clock_label": f"f{mhz}", "clock_mode": "pin",
        "clock_requested_mhz": float(mhz), "clock_applied_mhz": float(mhz),
        "clock_mhz": float(mhz), "workload_id": wl.id, "input_tokens": float(wl.input_tokens),
        "output_tokens": float(wl.output_tokens), "status": "ok", "error": "",
        "simulated": True, "slo_percentile": spec.slo_percentile, "slo_scale": spec.slo_scale,
        "slo_ttft_s": slo.ttft_s, "slo_tbt_s": slo.tbt_s,
        "slo_baseline_ttft_s": slo.ttft_s / spec.slo_scale,
        "slo_baseline_tbt_s": slo.tbt_s / spec.slo_scale, "slo_baseline_clock_mhz": float(top),
        "repeats_planned": float(spec.repeats), "gpu_name": "H100-SXM (simulated)",
        "source_path": "greenllm.recommend.sim_grid",
    }
    rows = []
    for r in range(spec.repeats):
        max_rps, _ = max_rate_under_slo(inst, wl.input_tokens, wl.output_tokens, slo,
                                        SEARCH_PAPER, start_rps=start, seed=1 + r)
        cell = {**base, "max_throughput_rps": max_rps, "search_repeat": r,
                "max_throughput_lower_rps": max_rps,
                "max_throughput_output_tok_s": max_rps * wl.output_tokens if max_rps else None}
        if not max_rps:
            rows.append({**cell, "repeat": r, "load_point": None, "flags": "no_max_throughput"})
            continue
        for i, (name, frac) in enumerate(LOAD_FRACTIONS.items()):
            rate = frac * max_rps
            offsets = Arrivals().offsets(rate, LOAD_SIZING.count(rate), seed=1000 * (r + 1) + i)
            res = inst.run(wl.input_tokens, wl.output_tokens, offsets)
            rows.append({**cell, "repeat": r, "load_point": name, "fraction_of_max": frac,
                         "rate_rps": rate, **run_metrics(res, wl.output_tokens, slo)})
    return rows


def grid_workload(text: str) -> Workload:
    """A paper id (``M-M``) or ``ID:INPUT:OUTPUT`` for a bucket beyond the paper's
    (``XL-M:2048:128``: traces have longer prompts than the paper's 1024)."""
    from greenllm.load.workloads import workload_from

    parts = text.strip().split(":")
    if len(parts) == 3:
        return workload_from({"id": parts[0], "input_tokens": int(parts[1]),
                              "output_tokens": int(parts[2])})
    return workload_from(parts[0])


def main(argv: list[str] | None = None) -> int:
    """``python -m greenllm.recommend.sim_grid --out T.parquet [--tps 2,4,8 ...]``."""
    import argparse

    from greenllm.analysis.aggregate import Aggregated, write_outputs
    def ints(text: str) -> tuple[int, ...]:
        return tuple(int(x) for x in text.split(",") if x)

    p = argparse.ArgumentParser(prog="python -m greenllm.recommend.sim_grid",
                                description="a SIMULATED planner table in virtual time")
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="llama2-70b")
    p.add_argument("--tps", type=ints, default=(2, 4, 8))
    p.add_argument("--max-batches", type=ints, default=(16, 64))
    p.add_argument("--clocks", type=ints, default=(1000, 1400, 1980))
    p.add_argument("--workloads", default=",".join(w.id for w in PAPER_WORKLOADS))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--slo-scale", type=float, default=3.0)
    a = p.parse_args(argv)
    spec = GridSpec(a.model, a.tps, a.max_batches, a.clocks,
                    tuple(grid_workload(w) for w in a.workloads.split(",")), a.repeats,
                    a.slo_scale)
    table = build_grid(spec, progress=lambda m: print(f"greenllm: {m}", flush=True))
    write_outputs(Aggregated(table=table, duplicates=[], files=[]), a.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
