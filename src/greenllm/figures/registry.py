"""Figure id -> (file stem, function, study, caption, what it needs). One table for the
CLI, the workflow and the docs; ids and stems are part of the shared contract."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from greenllm.analysis.statistics import ensure_statistics
from greenllm.analysis.studies import Study
from greenllm.errors import ConfigError
from greenllm.figures import batch, energy_breakdown, knob_axis, knobs, tp, workload
from greenllm.figures.style import Rendered, save

DrawFn = Callable[..., Rendered]


@dataclass(frozen=True)
class FigureSpec:
    fig_id: str  # "fig01"
    stem: str  # reports/figures/<stem>.pdf
    draw: DrawFn  # (table, study, *, percentile="p50") -> Rendered
    study: str  # workload | tp | batch
    caption: str
    needs: str  # which cells and column


_WL = "instance (tp, max_batch) × workloads × clocks at `load`"
_TP = "instances tps × (max_batch) × `workload` × clocks at `load`"
_BATCH = "instances (tp) × max_batches × `workload` × clocks at `load`"

_SPECS = [
    FigureSpec("fig01", "fig01_ttft_vs_clock_workloads", workload.fig01_ttft_vs_clock_workloads,
               "workload", "TTFT vs GPU clock for the 9 input/output workload types.",
               f"{_WL}; ttft_<p>_s"),
    FigureSpec("fig02", "fig02_tbt_vs_clock_workloads", workload.fig02_tbt_vs_clock_workloads,
               "workload", "TBT vs GPU clock for the 9 workload types.", f"{_WL}; tbt_<p>_s"),
    FigureSpec("fig03", "fig03_max_throughput_vs_clock_workloads",
               workload.fig03_max_throughput_vs_clock_workloads, "workload",
               "Maximum throughput under the TTFT/TBT SLOs vs GPU clock, 9 workload types.",
               f"{_WL} (one row per cell); max_throughput_rps"),
    FigureSpec("fig04", "fig04_max_power_vs_clock_workloads",
               workload.fig04_max_power_vs_clock_workloads, "workload",
               "Maximum power (all GPUs) at medium load vs GPU clock, 9 workload types.",
               f"{_WL}; power_max_w"),
    FigureSpec("fig05", "fig05_energy_vs_clock_workloads",
               workload.fig05_energy_vs_clock_workloads, "workload",
               "Energy for the same work (per request) at medium load vs GPU clock, each "
               "workload normalised to its value at the highest clock.",
               f"{_WL}; energy_per_request_j"),
    FigureSpec("fig06", "fig06_ttft_vs_clock_tp", tp.fig06_ttft_vs_clock_tp, "tp",
               "TTFT vs GPU clock for TP2/TP4/TP8 (medium workload, medium load).",
               f"{_TP}; ttft_<p>_s"),
    FigureSpec("fig07", "fig07_tbt_vs_clock_tp", tp.fig07_tbt_vs_clock_tp, "tp",
               "TBT vs GPU clock per TP degree.", f"{_TP}; tbt_<p>_s"),
    FigureSpec("fig08", "fig08_max_throughput_tp", tp.fig08_max_throughput_tp, "tp",
               "Maximum throughput under SLO vs GPU clock per TP degree.",
               f"{_TP} (one row per cell); max_throughput_rps"),
    FigureSpec("fig09", "fig09_max_power_tp", tp.fig09_max_power_tp, "tp",
               "Maximum power at medium load per TP degree, normalised to the largest TP at "
               "the highest clock.", f"{_TP}; power_max_w"),
    FigureSpec("fig10", "fig10_energy_tp", tp.fig10_energy_tp, "tp",
               "Total energy for the same requests at medium load per TP degree, normalised "
               "to the largest TP at the highest clock.", f"{_TP}; energy_per_request_j"),
    FigureSpec("fig11", "fig11_ttft_vs_clock_batch", batch.fig11_ttft_vs_clock_batch, "batch",
               "TTFT vs GPU clock per max batch size, at medium and low load.",
               f"{_BATCH} and `low_load`; ttft_<p>_s"),
    FigureSpec("fig12", "fig12_tbt_vs_clock_batch", batch.fig12_tbt_vs_clock_batch, "batch",
               "TBT vs GPU clock per max batch size.", f"{_BATCH}; tbt_<p>_s"),
    FigureSpec("fig13", "fig13_max_throughput_batch", batch.fig13_max_throughput_batch,
               "batch", "Maximum throughput under SLO vs GPU clock per max batch size.",
               f"{_BATCH} (one row per cell); max_throughput_rps"),
    FigureSpec("fig14", "fig14_max_power_batch", batch.fig14_max_power_batch, "batch",
               "Maximum power at medium load per max batch size, normalised to the largest "
               "batch at the highest clock.", f"{_BATCH}; power_max_w"),
    FigureSpec("fig15", "fig15_energy_batch", batch.fig15_energy_batch, "batch",
               "Total energy for the same requests per max batch size at medium and low "
               "load, normalised (per load) to the largest batch at the highest clock.",
               f"{_BATCH} and `low_load`; energy_per_request_j"),
]

FIGURES: dict[str, FigureSpec] = {s.fig_id: s for s in _SPECS}

# Beyond the paper's 15 (not part of the paper-figure contract, drawn on request).
_EXTRA_SPECS = [
    FigureSpec("knobs", "knobs_sm_clock_vs_power_cap", knobs.fig_knobs, "workload",
               "Per workload: the energy per output token SM-clock locking reaches vs power "
               "capping, at equal max throughput under SLO (analysis.knob_comparison).",
               f"{_WL} and the same with power limits (cells p<W>); max_throughput_rps, "
               "energy_per_output_token_j"),
    FigureSpec("energy_breakdown", "energy_breakdown", energy_breakdown.fig_energy_breakdown,
               "workload", "Per cell: GPU energy per output token split into idle, prefill and "
               "decode (request timeline), with host CPU+DRAM energy (RAPL) where readable.",
               f"{_WL}; energy_idle_j, energy_prefill_j, energy_decode_j, host_energy_j"),
]
EXTRA_FIGURES: dict[str, FigureSpec] = {s.fig_id: s for s in _EXTRA_SPECS}


def get_figure(name: str) -> FigureSpec:
    """A figure by id (``fig06``, ``6``), stem, or file name (``fig06_ttft_vs_clock_tp.pdf``)."""
    key = Path(str(name)).stem.strip().lower()
    if re.fullmatch(r"\d{1,2}", key):
        key = f"fig{int(key):02d}"
    for spec in _SPECS + _EXTRA_SPECS:
        if key in (spec.fig_id, spec.stem):
            return spec
    raise ConfigError(f"unknown figure {name!r} (see `greenllm figure --list`)")


def render(
    spec: FigureSpec, table: pd.DataFrame, study: Study, *, percentile: str = "p50",
    x: str = "sm_clock",
) -> Rendered:
    """``x``: the knob on the x axis, ``sm_clock`` or ``power_limit`` (figures.knob_axis)."""
    if study.name != spec.study:
        raise ConfigError(f"{spec.fig_id} belongs to the {spec.study!r} study, got {study.name!r}")
    # Medians over repeats and their CIs, computed once for all the figure's selections.
    stats, study = knob_axis.view(ensure_statistics(table), study, x)
    return spec.draw(stats, study, percentile=percentile)


def render_to(
    spec: FigureSpec,
    table: pd.DataFrame,
    study: Study,
    out_pdf: str | os.PathLike[str],
    *,
    percentile: str = "p50",
    x: str = "sm_clock",
) -> Rendered:
    """Render and write ``out_pdf`` plus the PNG beside it."""
    if Path(out_pdf).suffix != ".pdf":
        raise ConfigError(f"--out must name a .pdf file, got {out_pdf}")
    rendered = render(spec, table, study, percentile=percentile, x=x)
    save(rendered, out_pdf)
    return rendered
