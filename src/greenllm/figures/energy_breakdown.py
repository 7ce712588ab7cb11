"""The energy-breakdown figure: each cell's GPU energy per output token at the study's
load point, split into idle, prefill and decode (``analysis.energy_split``), with the
host's CPU+DRAM energy (RAPL) beside it where it was readable. A cell without a split
(no phases recorded, e.g. measured before this existed) is listed, not drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from greenllm.analysis.statistics import ensure_statistics
from greenllm.analysis.studies import Study
from greenllm.figures.style import (
    Rendered,
    add_notes,
    mark_provenance,
    new_axes,
    place_legend,
    placeholder,
)

FIG_ID = "energy_breakdown"
TITLE = "Where the energy goes: idle, prefill and decode per output token"
PARTS = (("energy_idle_j", "idle (idle power x window)"),
         ("energy_prefill_j", "prefill pending (above idle)"),
         ("energy_decode_j", "decode only (above idle)"))


def fig_energy_breakdown(table: pd.DataFrame, study: Study, *, percentile: str = "p50") -> Rendered:
    stats = ensure_statistics(table)
    rows = stats[stats["tp"].isin(study.tps) & stats["max_batch"].isin(study.max_batches)
                 & stats["workload_id"].isin(study.workloads)
                 & (stats["load_point"] == study.load) & (stats["status"] == "ok")]
    notes: list[str] = []
    if "energy_split_sum_j" not in rows.columns:
        return placeholder(FIG_ID, TITLE, "the table has no energy split: aggregate it again", notes)
    has = rows["energy_split_sum_j"].notna() & rows["energy_per_output_token_j"].notna()
    lacking = rows[~has]
    if not lacking.empty:
        notes.append("No split (not drawn): " + ", ".join(
            f"{r.workload_id} {r.clock_label}" for r in lacking.itertuples()))
    rows = rows[has].sort_values(["workload_id", "clock_mhz", "clock_label"])
    if rows.empty:
        return placeholder(FIG_ID, TITLE, f"no cell at {study.load} load has an energy split "
                           "(measured with this greenllm's measure)", notes)
    per_token = rows["energy_per_output_token_j"] / rows["energy_split_sum_j"]
    data = rows[["instance_id", "workload_id", "clock_label", "load_point", "simulated",
                 "clock_mode", "energy_split_method", "idle_power_w", "host_energy_status",
                 "host_energy_scope"]].copy()
    for col, _ in PARTS:
        data[col.replace("_j", "_per_token_j")] = rows[col] * per_token
    tokens = rows["energy_j"] / rows["energy_per_output_token_j"]
    data["host_per_token_j"] = rows["host_energy_j"] / tokens
    fig, ax = new_axes()
    x = np.arange(len(data))
    bottom = np.zeros(len(data))
    palette = sns.color_palette("colorblind", len(PARTS))
    for k, (col, label) in enumerate(PARTS):
        h = data[col.replace("_j", "_per_token_j")].to_numpy(dtype=float)
        ax.bar(x, h, 0.7, bottom=bottom, color=palette[k], label=label)
        bottom += np.nan_to_num(h)
    host = data["host_per_token_j"].to_numpy(dtype=float)
    if np.isfinite(host).any():
        ax.plot(x, host, "k_", markersize=14, label="host CPU+DRAM (RAPL)")
    status = data["host_energy_status"].dropna().unique()
    if not np.isfinite(host).any():
        why = "; ".join(sorted(set(data["host_energy_scope"].dropna()))) or "not recorded"
        notes.append(f"Host CPU/DRAM energy: not available ({why}).")
    elif len(status):
        notes.append("Host: " + "; ".join(sorted(set(data["host_energy_scope"].dropna()))) + ".")
    ax.set_xticks(x, [f"{r.workload_id}\n{r.clock_label}" for r in data.itertuples()], fontsize=7)
    ax.set_title(TITLE, fontsize=10, loc="left")
    ax.set_xlabel(f"workload and setting ({study.load} load)", fontsize=9)
    ax.set_ylabel("GPU energy per output token (J)", fontsize=9)
    ax.legend()
    place_legend(ax)
    methods = sorted(set(data["energy_split_method"].dropna()))
    notes.insert(0, f"Split: {', '.join(methods)} (docs/results-format.md); 'prefill pending' "
                 "includes queueing before prefill, an upper bound at high load.")
    mark_provenance(fig, rows, observed_clock=bool((rows["clock_mode"] == "observe").any()))
    add_notes(fig, notes)
    return Rendered(FIG_ID, fig, data.reset_index(drop=True), notes)
