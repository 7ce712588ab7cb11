"""Figures 11-15 (§IV-C): max batch size vs GPU clock.

Rows: the batch study's instances (tp at each max batch), its one workload (M-M) at its
load point (medium); Figs 11 and 15 add the low-load case (``low_load``) as dashed
lines. Power and energy are normalised to the largest batch at the highest clock, per
load point.
"""

from __future__ import annotations

from functools import partial

import pandas as pd

from greenllm.analysis.studies import Study
from greenllm.figures.encodings import by_batch
from greenllm.figures.metric_figures import (
    energy_figure,
    latency_figure,
    max_power_figure,
    max_throughput_figure,
)
from greenllm.figures.style import Rendered


def _reference(study: Study) -> dict[str, object]:
    return {"max_batch": max(study.max_batches), "clock_mhz": study.max_clock_mhz or "max"}


def _with_low_load(study: Study) -> list[str]:
    return [study.load] + ([study.low_load] if study.low_load else [])


def fig11_ttft_vs_clock_batch(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    return latency_figure(
        table, study, fig_id="fig11", metric="ttft", percentile=percentile,
        encode=partial(by_batch, with_load=True), load_points=_with_low_load(study),
        title=f"Fig. 11 — TTFT ({percentile}) vs GPU clock, by max batch size",
    )


def fig12_tbt_vs_clock_batch(
    table: pd.DataFrame, study: Study, *, percentile: str = "p50"
) -> Rendered:
    return latency_figure(
        table, study, fig_id="fig12", metric="tbt", percentile=percentile, encode=by_batch,
        title=f"Fig. 12 — TBT ({percentile}) vs GPU clock, by max batch size",
    )


def fig13_max_throughput_batch(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return max_throughput_figure(
        table, study, fig_id="fig13", encode=by_batch,
        title="Fig. 13 — Max throughput under SLO vs GPU clock, by max batch",
    )


def fig14_max_power_batch(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return max_power_figure(
        table, study, fig_id="fig14", encode=by_batch, reference=_reference(study),
        title=f"Fig. 14 — Max power at {study.load} load, by max batch size",
    )


def fig15_energy_batch(
    table: pd.DataFrame, study: Study, **_: object
) -> Rendered:
    return energy_figure(
        table, study, fig_id="fig15", encode=partial(by_batch, with_load=True),
        reference=_reference(study), load_points=_with_low_load(study),
        within=["load_point"], title="Fig. 15 — Total energy by max batch size",
    )
