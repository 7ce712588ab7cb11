"""Figures 6-10 (§IV-B): tensor parallelism TP2/TP4/TP8 vs GPU clock.

Rows: the tp study's instances (each tp at its max_batch), its one workload (M-M in the
paper) at its load point (medium), every clock. One colour per TP degree. Power and
energy sum all GPUs of an instance and are normalised to the largest TP at the highest
clock (TP8 @ 1980 MHz in the paper).
"""

from __future__ import annotations

import pandas as pd

from greenllm.analysis.select import select_rows
from greenllm.analysis.studies import Study
from greenllm.figures.encodings import by_tp
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
    return {"tp": max(study.tps), "clock_mhz": study.max_clock_mhz or "max"}


def fig06_ttft_vs_clock_tp(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    col = latency_column("ttft", percentile)
    return line_figure(
        fig_id="fig06", title=f"Fig. 6 — TTFT ({percentile}) vs GPU clock, by TP degree",
        sel=select_rows(table, study), metric=col, ylabel=latency_ylabel("ttft", percentile),
        encode=by_tp, value=in_ms(col),
    )


def fig07_tbt_vs_clock_tp(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    col = latency_column("tbt", percentile)
    return line_figure(
        fig_id="fig07", title=f"Fig. 7 — TBT ({percentile}) vs GPU clock, by TP degree",
        sel=select_rows(table, study), metric=col, ylabel=latency_ylabel("tbt", percentile),
        encode=by_tp, value=in_ms(col),
    )


def fig08_max_throughput_tp(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return line_figure(
        fig_id="fig08", title="Fig. 8 — Max throughput under SLO vs GPU clock, by TP degree",
        sel=select_rows(table, study, per_cell=True), metric="max_throughput_rps",
        ylabel="max throughput under SLO (req/s)", encode=by_tp,
    )


def fig09_max_power_tp(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    ref = _reference(study)
    return line_figure(
        fig_id="fig09", title=f"Fig. 9 — Max power at {study.load} load, by TP degree",
        sel=select_rows(table, study), metric="power_max_w",
        ylabel=normalized_ylabel("max power, all GPUs", ref), encode=by_tp,
        value=normalized("power_max_w", ref),
    )


def fig10_energy_tp(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    ref = _reference(study)
    return line_figure(
        fig_id="fig10", title=f"Fig. 10 — Total energy at {study.load} load, by TP degree",
        sel=select_rows(table, study), metric="energy_per_request_j",
        ylabel=normalized_ylabel("energy for the same requests", ref), encode=by_tp,
        value=normalized("energy_per_request_j", ref),
    )
