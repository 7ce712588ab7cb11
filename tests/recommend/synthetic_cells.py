"""Synthetic cells tables for the planner: a simple, known physics so tests can check
the planner's choices against values worked out by hand."""

from __future__ import annotations

import pandas as pd

from greenllm.analysis.flatten import rows_to_frame

WORKLOADS = {"S-S": (100, 50), "M-M": (500, 128)}


def cell_rows(tp: int, clock: int, wid: str, *, cap_per_gpu: float = 1.0, repeats: int = 3,
              slo_ttft: float = 1.0, ttft_hi_point: float | None = None,
              spread: float = 0.02) -> list[dict]:
    """One config x workload: capacity cap_per_gpu * tp * clock/1980 req/s per instance;
    power per instance = tp * (100 + 300 * (clock/1980)**2 * load fraction) W."""
    inp, out = WORKLOADS[wid]
    f = clock / 1980
    cap = cap_per_gpu * tp * f
    rows = []
    for r in range(repeats):
        jitter = 1 + spread * (r - 1)
        for name, frac in (("low", 0.25), ("medium", 0.5), ("high", 0.9)):
            rate = frac * cap
            power = tp * (100 + 300 * f * f * frac) * jitter
            ttft = 0.2 + 0.5 * frac
            if name == "high" and ttft_hi_point is not None:
                ttft = ttft_hi_point * jitter ** 10
            rows.append({
                "instance_id": f"m_tp{tp}_b64", "model": "m", "tp": tp, "max_batch": 64,
                "engine": "sim", "clock_label": f"f{clock}", "clock_mode": "pin",
                "clock_mhz": float(clock), "workload_id": wid, "input_tokens": float(inp),
                "output_tokens": float(out), "load_point": name, "repeat": r, "status": "ok",
                "simulated": True, "fraction_of_max": frac, "rate_rps": rate,
                "energy_per_request_j": power / rate, "power_mean_w": power,
                "ttft_p90_s": ttft, "tbt_p90_s": 0.01, "slo_attainment": 1.0,
                "max_throughput_rps": cap * jitter, "max_throughput_lower_rps": cap * 0.97,
                "slo_percentile": 90.0, "slo_scale": 3.0, "slo_ttft_s": slo_ttft,
                "slo_tbt_s": 0.05, "slo_baseline_ttft_s": slo_ttft / 3,
                "slo_baseline_tbt_s": 0.05 / 3, "search_repeat": r,
            })
    return rows


def grid(tps=(2, 8), clocks=(1000, 1980), workloads=("S-S", "M-M"), **kw) -> pd.DataFrame:
    rows = []
    for tp in tps:
        for clock in clocks:
            for wid in workloads:
                rows += cell_rows(tp, clock, wid, **kw)
    return rows_to_frame(rows)
