"""How lines are told apart: colour (hue) and line style, as categorical label columns.

Numbers make seaborn draw continuous colour maps; labels ("TP4", "batch 16",
"in 500") keep one distinct colour per line and a legend in numeric order.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Encoding:
    hue: str  # label column for colour
    hue_order: tuple[str, ...]
    style: str | None = None  # label column for line style
    style_order: tuple[str, ...] | None = None


def by_workload(rows: pd.DataFrame) -> tuple[pd.DataFrame, Encoding]:
    """Colour by input length, line style by output length (Figs 1-5)."""
    rows = rows.assign(
        input=rows["input_tokens"].map(_tokens("in")),
        output=rows["output_tokens"].map(_tokens("out")),
    )
    return rows, Encoding(
        hue="input", hue_order=_ordered(rows, "input_tokens", "input"),
        style="output", style_order=_ordered(rows, "output_tokens", "output"),
    )


def by_tp(rows: pd.DataFrame) -> tuple[pd.DataFrame, Encoding]:
    """One colour per tensor-parallel degree (Figs 6-10)."""
    rows = rows.assign(parallelism=rows["tp"].map(lambda t: f"TP{int(t)}"))
    return rows, Encoding(hue="parallelism", hue_order=_ordered(rows, "tp", "parallelism"))


def by_batch(rows: pd.DataFrame, with_load: bool = False) -> tuple[pd.DataFrame, Encoding]:
    """One colour per max batch size; line style per load point when several (Figs 11-15)."""
    rows = rows.assign(
        batch=rows["max_batch"].map(lambda b: f"batch {int(b)}"),
        load=rows["load_point"].map(lambda lp: f"{lp} load"),
    )
    order = _ordered(rows, "max_batch", "batch")
    if with_load and rows["load"].nunique() > 1:
        loads = tuple(dict.fromkeys(rows.sort_values("fraction_of_max", ascending=False)["load"]))
        return rows, Encoding(hue="batch", hue_order=order, style="load", style_order=loads)
    return rows, Encoding(hue="batch", hue_order=order)


def _tokens(prefix: str):
    def label(n: float) -> str:
        return f"{prefix} {int(n)}" if pd.notna(n) else f"{prefix} ?"

    return label


def _ordered(rows: pd.DataFrame, numeric: str, label: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(rows.sort_values(numeric)[label]))
