"""What a figure's face says about how it was measured: capped repeats and the spend.

Points whose repeats stopped at the cap, not at their CI target, are ringed.

Adaptive repeats (``greenllm.measure.adaptive``) stop a cell once its intervals are as
tight as asked; a cell that reached ``load.max_repeats`` first has a wider interval than
the target, and the reader should see which points those are.
"""

from __future__ import annotations

import pandas as pd

from greenllm.measure.adaptive import STOP_CAP
from greenllm.measure.spend import footnote


def capped(rows: pd.DataFrame) -> pd.Series:
    if "repeat_stop" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["repeat_stop"].astype(str) == STOP_CAP


def ring_capped(ax, rows: pd.DataFrame) -> list[str]:
    """Ring the capped points of ``rows`` (x ``clock_mhz``, y ``value``); the note line."""
    hit = rows[capped(rows)]
    if hit.empty:
        return []
    ax.scatter(hit["clock_mhz"], hit["value"], s=110, facecolors="none", edgecolors="black",
               linewidths=1.0, zorder=5)
    return [f"{len(hit)} point(s) ringed: repeats hit the cap before the CI target."]


def spend_note(rows: pd.DataFrame) -> list[str]:
    """The footnote naming what the figure's instances spent (``instance_*`` columns)."""
    cols = ["instance_id", "instance_gpu_s_held", "instance_gpu_s_in_windows",
            "instance_engine_starts"]
    if not set(cols) <= set(rows.columns):
        return []
    per = rows[cols].dropna(subset=["instance_gpu_s_held"]).groupby("instance_id").max()
    if per.empty:
        return []
    virtual = "engine" in rows.columns and bool((rows["engine"] == "virtual").any())
    return [footnote(float(per["instance_gpu_s_held"].sum()),
                     float(per["instance_gpu_s_in_windows"].sum()),
                     int(per["instance_engine_starts"].sum()), virtual_time=virtual)]
