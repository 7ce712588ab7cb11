"""Points whose repeats stopped at the cap, not at their CI target, are ringed on the face.

Adaptive repeats (``greenllm.measure.adaptive``) stop a cell once its intervals are as
tight as asked; a cell that reached ``load.max_repeats`` first has a wider interval than
the target, and the reader should see which points those are.
"""

from __future__ import annotations

import pandas as pd

from greenllm.measure.adaptive import STOP_CAP


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
