"""The one plot every paper figure is: a metric (or its normalised form) vs GPU clock.

Figure functions choose rows, metric, encoding and optional normalisation; this module
draws, labels, marks provenance and lists what is missing, the same way for all 15.

Rows come from the statistics table: each point is the median over repeats, with an error
bar for its 95 % bootstrap CI where the point has >= 3 repeats; a note on the figure says
how many repeats the points have (and that single runs carry no interval).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import seaborn as sns

from greenllm.analysis.select import Selection
from greenllm.analysis.statistics import ci_columns
from greenllm.analysis.uncertainty import CI_LEVEL, FULL_COVERAGE_REPEATS, MIN_REPEATS_FOR_CI
from greenllm.figures.encodings import Encoding
from greenllm.figures.knob_axis import on_power_limit
from greenllm.figures.measurement_notes import ring_capped, spend_note
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
    rows["ci_lo"], rows["ci_hi"] = _scaled_ci(rows, metric)
    notes = notes + repeats_note(rows)
    fig, ax = new_axes()
    _draw(ax, rows, enc)
    _draw_intervals(ax, rows, enc)
    _mark_no_max_throughput(ax, sel)
    notes = notes + ring_capped(ax, rows) + spend_note(rows)
    observed = (rows["clock_mode"] == "observe").any()
    xlabel = "mean achieved SM clock (MHz)" if observed else "GPU SM clock (MHz)"
    if on_power_limit(rows):  # figures.knob_axis: the power limit in the clock column
        xlabel = "GPU power limit (W)"
        title = (title.replace("GPU clock", "GPU power limit") if "GPU clock" in title
                 else f"{title}, vs GPU power limit")
    label_axes(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    place_legend(ax, title=None if enc.style else enc.hue)
    mark_provenance(fig, rows, observed_clock=bool(observed))
    add_notes(fig, notes)
    cols = DATA_COLUMNS + [c for c in (enc.hue, enc.style) if c] + [
        metric, "value", "ci_lo", "ci_hi", "n_repeats", "high_spread"]
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


def _scaled_ci(rows: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    """The metric's CI in the plotted units.

    Every plotted value is the metric times a per-row factor (ms conversion, or division
    by a reference's median), so the same factor maps the CI. A normalised figure's bars
    are thus the point's own uncertainty; the reference's is not propagated.
    """
    lo_col, hi_col = ci_columns(metric)
    if lo_col not in rows.columns:
        nan = pd.Series(np.nan, index=rows.index)
        return nan, nan.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = rows["value"] / rows[metric]
    return rows[lo_col] * factor, rows[hi_col] * factor


def _span(counts: pd.Series) -> str:
    lo, hi = int(counts.min()), int(counts.max())
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def repeats_note(rows: pd.DataFrame) -> list[str]:
    """'Points: median of n=5 repeats; bars: 95 % bootstrap CI …' for the figure's face."""
    if "n_repeats" not in rows.columns or rows.empty:
        return []
    n = rows["n_repeats"].astype(int)
    lo, hi = int(n.min()), int(n.max())
    level = f"{CI_LEVEL:.0%}".replace("%", " %")
    counts = f"n={lo}" if lo == hi else f"n={lo}–{hi}"
    if hi < MIN_REPEATS_FOR_CI:
        return [f"One run per point ({counts}): no confidence interval; differences may be "
                "run-to-run noise." if hi == 1 else
                f"Points: median of {counts} repeats; no CI (needs ≥ {MIN_REPEATS_FOR_CI})."]
    text = (f"Points: median of {counts} repeats; bars: {level} bootstrap CI over repeats")
    if lo < MIN_REPEATS_FOR_CI:
        text += f" (none where n < {MIN_REPEATS_FOR_CI})"
    # At 3-4 repeats the bootstrap interval is about the repeats' range, which holds the
    # median with probability 1 - 2 * 0.5**n: 75 % / 88 %, not 95 %, so the statistics
    # table widens those bars by a t interval (docs/uncertainty.md). Adaptive repeats stop
    # points there; the reader should know which bars rest on so few runs.
    few = n[(n >= MIN_REPEATS_FOR_CI) & (n < FULL_COVERAGE_REPEATS)]
    if not few.empty:
        cover = sorted({f"{1 - 2 * 0.5 ** k:.0%}".replace("%", " %") for k in few})
        text += (f"; {len(few)} point(s) from {_span(few)} repeats, whose "
                 "bars are widened to a Student t interval (a bootstrap of so few holds the "
                 f"median only about {' / '.join(cover)} of the time)")
    many = n[n > FULL_COVERAGE_REPEATS]
    if not many.empty:  # there the bootstrap alone covers 87-95 %, depending on n
        text += (f"; {len(many)} point(s) from {_span(many)} repeats, "
                 "whose bars also hold a Student t interval")
    spread = int(rows["high_spread"].astype(bool).sum()) if "high_spread" in rows else 0
    if spread:
        text += f"; {spread} points with high spread (CV above the bound, see sanity.md)"
    return [text + "."]


def _draw_intervals(ax, rows: pd.DataFrame, enc: Encoding) -> None:
    """Error bars in each line's colour, where a CI exists."""
    has = rows[rows["ci_lo"].notna() & rows["ci_hi"].notna()]
    if has.empty:
        return
    palette = dict(zip(enc.hue_order, sns.color_palette("colorblind", len(enc.hue_order)),
                       strict=True))
    for hue, group in has.groupby(enc.hue, sort=False):
        y = group["value"].to_numpy(dtype=float)
        below = np.clip(y - group["ci_lo"].to_numpy(dtype=float), 0, None)
        above = np.clip(group["ci_hi"].to_numpy(dtype=float) - y, 0, None)
        ax.errorbar(group["clock_mhz"].to_numpy(dtype=float), y, yerr=[below, above],
                    fmt="none", ecolor=palette.get(hue, "gray"), elinewidth=0.8, capsize=2.5,
                    alpha=0.9, zorder=3)


NO_MAX_LABEL = "no max throughput (no probed rate met the SLO)"


def _mark_no_max_throughput(ax, sel: Selection) -> None:
    """A red x on the clock axis where a cell's search found no rate meeting the SLO, so
    its missing point reads as a finding, not as a gap (the note below lists them)."""
    rows = sel.rows[(sel.rows["status"] == "no_max_throughput") & sel.rows["clock_mhz"].notna()]
    if rows.empty:
        return
    x = sorted(rows["clock_mhz"].astype(float).unique())
    ax.scatter(x, [0.0] * len(x), transform=ax.get_xaxis_transform(), marker="x", s=40,
               color="red", linewidths=1.5, clip_on=False, zorder=6, label=NO_MAX_LABEL)


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
