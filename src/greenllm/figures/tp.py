"""Figures 6-10 (§IV-B): tensor parallelism TP2/TP4/TP8 vs GPU clock.

Rows: the tp study's instances (each tp at its max_batch), its one workload (M-M in the
paper) at its load point (medium), every clock. One colour per TP degree. Power and
energy sum all GPUs of an instance and are normalised to the largest TP at the highest
clock (TP8 @ 1980 MHz in the paper).
"""

from __future__ import annotations

import pandas as pd

from greenllm.analysis.studies import Study
from greenllm.figures.encodings import by_tp
from greenllm.figures.metric_figures import (
    energy_figure,
    latency_figure,
    max_power_figure,
    max_throughput_figure,
)
from greenllm.figures.style import Rendered


def _reference(study: Study) -> dict[str, object]:
    return {"tp": max(study.tps), "clock_mhz": study.max_clock_mhz or "max"}


def fig06_ttft_vs_clock_tp(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    return latency_figure(
        table, study, fig_id="fig06", metric="ttft", percentile=percentile, encode=by_tp,
        title=f"Fig. 6 — TTFT ({percentile}) vs GPU clock, by TP degree",
    )


def fig07_tbt_vs_clock_tp(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    return latency_figure(
        table, study, fig_id="fig07", metric="tbt", percentile=percentile, encode=by_tp,
        title=f"Fig. 7 — TBT ({percentile}) vs GPU clock, by TP degree",
    )


def fig08_max_throughput_tp(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return max_throughput_figure(
        table, study, fig_id="fig08", encode=by_tp,
        title="Fig. 8 — Max throughput under SLO vs GPU clock, by TP degree",
    )


def fig09_max_power_tp(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return max_power_figure(
        table, study, fig_id="fig09", encode=by_tp, reference=_reference(study),
        title=f"Fig. 9 — Max power at {study.load} load, by TP degree",
    )


def fig10_energy_tp(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return energy_figure(
        table, study, fig_id="fig10", encode=by_tp, reference=_reference(study),
        title=f"Fig. 10 — Total energy at {study.load} load, by TP degree",
    )
