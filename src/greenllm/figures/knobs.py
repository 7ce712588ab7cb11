"""The knob-comparison figure: per workload, the energy per output token SM-clock locking
reaches beside what power capping reaches, at equal max throughput under SLO
(``analysis.knob_comparison``). Each bar names the setting that reached it; a knob
without an answer is written where its bar would be, never left out silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

from greenllm.analysis.knob_comparison import DEFAULT_FLOOR, KNOB_NAMES, KNOBS, compare_knobs
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

FIG_ID = "knobs"
TITLE = "Energy per token: SM-clock locking vs power capping at equal max throughput"


def fig_knobs(table: pd.DataFrame, study: Study, *, percentile: str = "p50") -> Rendered:
    """``percentile`` is accepted for the registry's signature; the figure has no latency."""
    stats = ensure_statistics(table)
    stats = stats[stats["tp"].isin(study.tps) & stats["max_batch"].isin(study.max_batches)
                  & stats["workload_id"].isin(study.workloads)]
    cmp = compare_knobs(stats, load_point=study.load)
    notes = [f"Target per workload: {DEFAULT_FLOOR:.0%} of the best max throughput under SLO "
             f"either knob reaches; bar: the lowest energy per output token at {study.load} "
             "load among the settings that reach it (label: the setting)."]
    measured = {k for k in KNOBS if ((cmp["knob"] == k) & (cmp["status"] != "not measured")).any()}
    if measured != set(KNOBS):
        why = ("no cell of the workload study swept the power limit (clocks.power_limit_w) "
               "beside the SM clock (clocks.mhz), so the knobs cannot be compared")
        return placeholder(FIG_ID, TITLE, why, notes)
    if not (cmp["status"] == "ok").any():
        return placeholder(FIG_ID, TITLE, "no setting of either knob reaches the target", notes)
    workloads = [w for w in study.workloads if w in set(cmp["workload_id"])]
    fig, ax = new_axes()
    width = 0.38
    palette = sns.color_palette("colorblind", len(KNOBS))
    x = np.arange(len(workloads))
    for k, knob in enumerate(KNOBS):
        rows = cmp[cmp["knob"] == knob].drop_duplicates("workload_id").set_index("workload_id")
        xs = x + (k - 0.5) * width
        heights = [float(rows.loc[w, "energy_per_output_token_j"]) if w in rows.index
                   and rows.loc[w, "status"] == "ok" else 0.0 for w in workloads]
        ax.bar(xs, heights, width, color=palette[k], label=KNOB_NAMES[knob])
        for xi, w, h in zip(xs, workloads, heights, strict=True):
            text = (str(rows.loc[w, "setting_label"]) if h > 0
                    else str(rows.loc[w, "status"]) if w in rows.index else "not measured")
            ax.text(xi, h, text, ha="center", va="bottom", fontsize=6,
                    rotation=90 if h == 0 else 0)
    ax.set_xticks(x, workloads)
    # not label_axes: its plain-number x format does not apply to categorical ticks
    ax.set_title(TITLE, fontsize=10, loc="left")
    ax.set_xlabel("workload (input-output bucket)", fontsize=9)
    ax.set_ylabel("energy per output token (J)", fontsize=9)
    ax.legend()
    place_legend(ax)
    winners = cmp.drop_duplicates(["instance_id", "workload_id"])
    notes.append("Winner per workload: " + ", ".join(
        f"{r.workload_id}: {KNOB_NAMES.get(r.winner, r.winner)}" for r in winners.itertuples()))
    prov = stats[stats["workload_id"].isin(workloads)]
    mark_provenance(fig, prov, observed_clock=False)
    add_notes(fig, notes)
    return Rendered(FIG_ID, fig, cmp.reset_index(drop=True), notes)
