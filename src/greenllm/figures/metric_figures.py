"""The per-metric figures the tp (Figs 6-10) and batch (Figs 11-15) studies both draw.

Both studies plot the same metrics the same way (column, y label, value transform);
only the encoding, the normalisation reference and the load points differ, so those are
the arguments and each figure module keeps just its ids, titles and choices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from greenllm.analysis.select import select_rows
from greenllm.analysis.studies import Study
from greenllm.figures.plot import Encoder, line_figure
from greenllm.figures.style import Rendered
from greenllm.figures.values import (
    in_ms,
    latency_column,
    latency_ylabel,
    normalized,
    normalized_ylabel,
)


def latency_figure(
    table: pd.DataFrame, study: Study, *, fig_id: str, title: str, metric: str,
    percentile: str, encode: Encoder, load_points: Sequence[str] | None = None,
) -> Rendered:
    """``metric`` ("ttft" or "tbt") at ``percentile``, in ms."""
    col = latency_column(metric, percentile)
    return line_figure(
        fig_id=fig_id, title=title, sel=select_rows(table, study, load_points=load_points),
        metric=col, ylabel=latency_ylabel(metric, percentile), encode=encode, value=in_ms(col),
    )


def max_throughput_figure(
    table: pd.DataFrame, study: Study, *, fig_id: str, title: str, encode: Encoder
) -> Rendered:
    """Max throughput under SLO: a property of the cell, so one row per cell."""
    return line_figure(
        fig_id=fig_id, title=title, sel=select_rows(table, study, per_cell=True),
        metric="max_throughput_rps", ylabel="max throughput under SLO (req/s)", encode=encode,
    )


def max_power_figure(
    table: pd.DataFrame, study: Study, *, fig_id: str, title: str, encode: Encoder,
    reference: Mapping[str, object],
) -> Rendered:
    """Max power of all GPUs of an instance, normalised to ``reference``."""
    return line_figure(
        fig_id=fig_id, title=title, sel=select_rows(table, study), metric="power_max_w",
        ylabel=normalized_ylabel("max power, all GPUs", reference), encode=encode,
        value=normalized("power_max_w", reference),
    )


def energy_figure(
    table: pd.DataFrame, study: Study, *, fig_id: str, title: str, encode: Encoder,
    reference: Mapping[str, object], load_points: Sequence[str] | None = None,
    within: Sequence[str] = (),
) -> Rendered:
    """Energy for the same requests, normalised to ``reference`` (per ``within`` group)."""
    return line_figure(
        fig_id=fig_id, title=title, sel=select_rows(table, study, load_points=load_points),
        metric="energy_per_request_j",
        ylabel=normalized_ylabel("energy for the same requests", reference), encode=encode,
        value=normalized("energy_per_request_j", reference, within=within),
    )
