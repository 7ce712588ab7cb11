"""The one plot every paper figure is: a metric (or its normalised form) vs GPU clock.

Figure functions choose rows, metric, encoding and optional normalisation; this module
draws, labels, marks provenance and lists what is missing, the same way for all 15.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import seaborn as sns

from greenllm.analysis.select import Selection
from greenllm.figures.encodings import Encoding
from greenllm.figures.style import (
    Rendered,
    add_notes,
    label_axes,
    mark_provenance,
    missing_note,
    new_axes,
    place_legend,
    placeholder,
)

# Transform of the usable rows into the plotted y values, plus notes to print.
ValueFn = Callable[[pd.DataFrame], tuple[pd.Series, list[str]]]
Encoder = Callable[[pd.DataFrame], tuple[pd.DataFrame, Encoding]]

# Columns of every figure's returned data, before its encoding columns and y.
DATA_COLUMNS = [
    "instance_id", "model", "tp", "max_batch", "workload_id", "input_tokens", "output_tokens",
    "load_point", "fraction_of_max", "clock_label", "clock_mode", "clock_mhz", "simulated",
]


def line_figure(
    *,
    fig_id: str,
    title: str,
    sel: Selection,
    metric: str,
    ylabel: str,
    encode: Encoder,
    value: ValueFn | None = None,
) -> Rendered:
    """Draw ``metric`` (through ``value`` if given) against the clock, one line per group."""
    notes = missing_note(sel.missing(metric))
    rows = sel.usable(metric)
    if rows.empty:
        return placeholder(fig_id, title, _why_empty(sel, metric), notes)
    rows, enc = encode(rows)
    if value is None:
        rows["value"] = rows[metric]
    else:
        rows["value"], extra = value(rows)
        notes = extra + notes
    fig, ax = new_axes()
    _draw(ax, rows, enc)
    observed = (rows["clock_mode"] == "observe").any()
    xlabel = "mean achieved SM clock (MHz)" if observed else "GPU SM clock (MHz)"
    label_axes(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    place_legend(ax, title=None if enc.style else enc.hue)
    mark_provenance(fig, rows, observed_clock=bool(observed))
    add_notes(fig, notes)
    cols = DATA_COLUMNS + [c for c in (enc.hue, enc.style) if c] + [metric, "value"]
    data = rows[list(dict.fromkeys(cols))].reset_index(drop=True)
    return Rendered(fig_id, fig, data, notes)


def _draw(ax, rows: pd.DataFrame, enc: Encoding) -> None:
    palette = sns.color_palette("colorblind", len(enc.hue_order))
    kwargs = {
        "data": rows, "x": "clock_mhz", "y": "value", "hue": enc.hue,
        "hue_order": list(enc.hue_order), "palette": palette, "ax": ax, "errorbar": None,
        "sort": True, "linewidth": 1.2, "markersize": 5,
    }
    if enc.style:
        sns.lineplot(**kwargs, style=enc.style, style_order=list(enc.style_order or ()),
                     markers=True, dashes=True)
    else:
        sns.lineplot(**kwargs, marker="o")


def _why_empty(sel: Selection, metric: str) -> str:
    s = sel.study
    if sel.rows.empty:
        return (
            f"the table holds no cells of the {s.name} study "
            f"(model {s.model or 'any'}, TP {_join(s.tps)}, max batch {_join(s.max_batches)}, "
            f"workloads {_join(s.workloads)}, load {s.load}): run its measurements first"
        )
    n_failed = int((sel.rows["status"] != "ok").sum())
    return (
        f"none of the {len(sel.rows)} selected rows has {metric} "
        f"({n_failed} from failed cells): see sanity.md"
    )


def _join(values: tuple[object, ...]) -> str:
    return "/".join(str(v) for v in values)
