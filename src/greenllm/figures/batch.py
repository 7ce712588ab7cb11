"""Figures 11-15 (§IV-C): max batch size vs GPU clock.

Rows: the batch study's instances (tp at each max batch), its one workload (M-M) at its
load point (medium); Figs 11 and 15 add the low-load case (``low_load``) as dashed
lines. Power and energy are normalised to the largest batch at the highest clock, per
load point.
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from greenllm.analysis.select import select_rows
from greenllm.analysis.studies import Study
from greenllm.figures.encodings import by_batch
from greenllm.figures.plot import line_figure
from greenllm.figures.style import Rendered
from greenllm.figures.values import (
    in_ms,
    latency_column,
    latency_ylabel,
    normalized,
    normalized_ylabel,
)


def _reference(study: Study) -> dict[str, object]:
    return {"max_batch": max(study.max_batches), "clock_mhz": study.max_clock_mhz or "max"}


def _with_low_load(study: Study) -> list[str]:
    return [study.load] + ([study.low_load] if study.low_load else [])


def fig11_ttft_vs_clock_batch(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    col = latency_column("ttft", percentile)
    return line_figure(
        fig_id="fig11", title=f"Fig. 11 — TTFT ({percentile}) vs GPU clock, by max batch size",
        sel=select_rows(table, study, load_points=_with_low_load(study)), metric=col,
        ylabel=latency_ylabel("ttft", percentile), encode=partial(by_batch, with_load=True),
        value=in_ms(col),
    )


def fig12_tbt_vs_clock_batch(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    col = latency_column("tbt", percentile)
    return line_figure(
        fig_id="fig12", title=f"Fig. 12 — TBT ({percentile}) vs GPU clock, by max batch size",
        sel=select_rows(table, study), metric=col, ylabel=latency_ylabel("tbt", percentile),
        encode=by_batch, value=in_ms(col),
    )


def fig13_max_throughput_batch(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return line_figure(
        fig_id="fig13", title="Fig. 13 — Max throughput under SLO vs GPU clock, by max batch",
        sel=select_rows(table, study, per_cell=True), metric="max_throughput_rps",
        ylabel="max throughput under SLO (req/s)", encode=by_batch,
    )


def fig14_max_power_batch(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    ref = _reference(study)
    return line_figure(
        fig_id="fig14", title=f"Fig. 14 — Max power at {study.load} load, by max batch size",
        sel=select_rows(table, study), metric="power_max_w",
        ylabel=normalized_ylabel("max power, all GPUs", ref), encode=by_batch,
        value=normalized("power_max_w", ref),
    )


def fig15_energy_batch(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    ref = _reference(study)
    return line_figure(
        fig_id="fig15", title="Fig. 15 — Total energy by max batch size",
        sel=select_rows(table, study, load_points=_with_low_load(study)),
        metric="energy_per_request_j",
        ylabel=normalized_ylabel("energy for the same requests", ref),
        encode=partial(by_batch, with_load=True),
        value=normalized("energy_per_request_j", ref, within=["load_point"]),
    )
