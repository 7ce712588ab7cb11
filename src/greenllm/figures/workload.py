"""Figures 1-5 (§IV-A): the nine input/output workload types vs GPU clock.

Rows: the workload study's instance (tp, max_batch), its workloads, its load point
(medium in the paper), every clock. One line per workload: colour = input length,
style = output length.
"""

from __future__ import annotations

import pandas as pd

from greenllm.analysis.select import select_rows
from greenllm.analysis.studies import Study
from greenllm.figures.encodings import by_workload
from greenllm.figures.plot import line_figure
from greenllm.figures.style import Rendered
from greenllm.figures.values import (
    in_ms,
    latency_column,
    latency_ylabel,
    normalized,
    normalized_ylabel,
)


def fig01_ttft_vs_clock_workloads(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    col = latency_column("ttft", percentile)
    return line_figure(
        fig_id="fig01", title=f"Fig. 1 — TTFT ({percentile}) vs GPU clock, by workload",
        sel=select_rows(table, study), metric=col, ylabel=latency_ylabel("ttft", percentile),
        encode=by_workload, value=in_ms(col),
    )


def fig02_tbt_vs_clock_workloads(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    col = latency_column("tbt", percentile)
    return line_figure(
        fig_id="fig02", title=f"Fig. 2 — TBT ({percentile}) vs GPU clock, by workload",
        sel=select_rows(table, study), metric=col, ylabel=latency_ylabel("tbt", percentile),
        encode=by_workload, value=in_ms(col),
    )


def fig03_max_throughput_vs_clock_workloads(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return line_figure(
        fig_id="fig03", title="Fig. 3 — Max throughput under SLO vs GPU clock, by workload",
        sel=select_rows(table, study, per_cell=True), metric="max_throughput_rps",
        ylabel="max throughput under SLO (req/s)", encode=by_workload,
    )


def fig04_max_power_vs_clock_workloads(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return line_figure(
        fig_id="fig04", title=f"Fig. 4 — Max power at {study.load} load vs GPU clock",
        sel=select_rows(table, study), metric="power_max_w",
        ylabel="max power, all GPUs (W)", encode=by_workload,
    )


def fig05_energy_vs_clock_workloads(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    # Each workload against itself at the highest clock: the clock response (and the
    # energy-optimal clock) is what the paper reads from Fig. 5; absolute energies of
    # S-S and L-L differ by an order of magnitude.
    ref = {"clock_mhz": study.max_clock_mhz or "max"}
    return line_figure(
        fig_id="fig05", title=f"Fig. 5 — Energy per request at {study.load} load vs GPU clock",
        sel=select_rows(table, study), metric="energy_per_request_j",
        ylabel=normalized_ylabel("energy for the same work", ref), encode=by_workload,
        value=normalized("energy_per_request_j", ref, within=["workload_id"]),
    )
