"""The calibration check's report: per load point and per cell, simulated against
measured, the summary of relative errors per metric, and its markdown rendering.

``greenllm.calibrate.calibration_check`` fills it; docs/calibration.md shows it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from greenllm.calibrate.reference import RefCell
from greenllm.sim.hardware import Calibration

# Per load point, then per cell (max throughput). Keys of the comparison dicts.
POINT_METRICS = ("ttft_p50_s", "tbt_p50_s", "tpot_p50_s", "power_mean_w", "j_per_token")
# max_rps: against the search's result, the last rate that met the SLO (the bracket's
# lower end: the true limit lies up to the bracket's width above it, so this error is
# biased); max_rps_bracket: how far the simulated limit lies outside the measured
# bracket [last rate that met the SLO, first that missed] (0 inside it).
CELL_METRICS = ("max_rps", "max_rps_bracket")
METRICS = POINT_METRICS + CELL_METRICS
METRIC_LABELS = {
    "ttft_p50_s": "TTFT p50",
    "tbt_p50_s": "TBT p50",
    "tpot_p50_s": "TPOT p50",
    "power_mean_w": "mean power",
    "j_per_token": "energy / output token",
    "max_rps": "max throughput under SLO",
    "max_rps_bracket": "max throughput, outside the measured bracket",
}


@dataclass
class PointComparison:
    cell: RefCell
    point: str
    rate_rps: float
    n_repeats: int
    ref: dict[str, float | None]
    sim: dict[str, float | None]

    def error(self, metric: str) -> float | None:
        return rel_error(self.sim.get(metric), self.ref.get(metric))


@dataclass
class SearchComparison:
    cell: RefCell
    ref_rps: float | None
    ref_lower_rps: float | None
    ref_upper_rps: float | None
    sim_rps: float | None
    probes: int

    def error(self, metric: str = "max_rps") -> float | None:
        if metric == "max_rps_bracket":
            return self.bracket_error()
        return rel_error(self.sim_rps, self.ref_rps)

    def bracket_error(self) -> float | None:
        """0 if the simulated limit lies in the measured bracket, else its relative
        distance to the nearer end (negative: below the last rate that met the SLO)."""
        inside = self.in_interval
        if inside is None:
            return None
        if inside:
            return 0.0
        assert self.sim_rps is not None and self.ref_lower_rps is not None
        if self.sim_rps < self.ref_lower_rps:
            return rel_error(self.sim_rps, self.ref_lower_rps)
        return rel_error(self.sim_rps, self.ref_upper_rps)

    @property
    def in_interval(self) -> bool | None:
        """Whether the simulated limit lies in the measured search's bracket."""
        if self.sim_rps is None or self.ref_lower_rps is None:
            return None
        upper = self.ref_upper_rps if self.ref_upper_rps is not None else math.inf
        return self.ref_lower_rps <= self.sim_rps <= upper


@dataclass
class MetricSummary:
    metric: str
    n: int
    median_abs: float | None  # median |relative error| over rows
    max_abs: float | None
    median_signed: float | None  # the bias: median relative error


@dataclass
class CheckReport:
    references: list[Path]
    points: list[PointComparison]
    searches: list[SearchComparison]
    calibration: Calibration
    gpu_profile: str = "h100-sxm"  # the simulated GPU (config/measure/gpu/<profile>.yaml)
    gpu_names: tuple[str, ...] = ()  # the reference's cards, as NVML named them
    elapsed_s: float = 0.0
    summary: dict[str, MetricSummary] = field(default_factory=dict)
    # the same per instance (``RefCell.instance_key``: set/instance folder)
    by_instance: dict[str, dict[str, MetricSummary]] = field(default_factory=dict)


def rel_error(sim: float | None, ref: float | None) -> float | None:
    if sim is None or ref is None or ref == 0 or not (math.isfinite(sim) and math.isfinite(ref)):
        return None
    return (sim - ref) / ref


def summarize(report: CheckReport,
              select: Callable[[RefCell], bool] | None = None) -> dict[str, MetricSummary]:
    """Median/max |error| per metric over the rows (of the cells ``select`` keeps)."""
    out: dict[str, MetricSummary] = {}
    for metric in METRICS:
        rows: Sequence[PointComparison | SearchComparison] = (
            report.searches if metric in CELL_METRICS else report.points)
        if select is not None:
            rows = [r for r in rows if select(r.cell)]
        errs = [e for e in (r.error(metric) for r in rows) if e is not None]
        absolute = [abs(e) for e in errs]
        out[metric] = MetricSummary(
            metric=metric,
            n=len(errs),
            median_abs=statistics.median(absolute) if absolute else None,
            max_abs=max(absolute) if absolute else None,
            median_signed=statistics.median(errs) if errs else None,
        )
    return out


# --- rendering ----------------------------------------------------------------------


def _pct(err: float | None, digits: int = 0) -> str:
    return "–" if err is None else f"{err * 100:+.{digits}f} %"


def _val(value: float | None, scale: float, fmt: str) -> str:
    return "–" if value is None else format(value * scale, fmt)


_POINT_COLUMNS = (  # metric, header, scale, format
    ("ttft_p50_s", "TTFT p50 ms", 1e3, ".1f"),
    ("tbt_p50_s", "TBT p50 ms", 1e3, ".2f"),
    ("tpot_p50_s", "TPOT p50 ms", 1e3, ".2f"),
    ("power_mean_w", "mean W", 1.0, ".0f"),
    ("j_per_token", "J/token", 1.0, ".3f"),
)


def _where(report: CheckReport, cell: RefCell) -> str:
    """The instance folder, prefixed with its set when several sets are pooled."""
    return cell.instance_key if len(report.references) > 1 else cell.source


def render_markdown(report: CheckReport) -> str:
    refs = ", ".join(f"`{r}`" for r in report.references)
    lines = [
        f"Reference: {refs} ({', '.join(report.gpu_names) or 'card not recorded'}); "
        f"simulated as GPU profile `{report.gpu_profile}` in virtual time at the card's clock "
        f"({report.elapsed_s:.0f} s on this machine). Errors are (sim − measured) / measured; "
        "the summary uses their absolute values.",
        "",
        "| metric | rows | median \\|error\\| | max \\|error\\| | median error (bias) |",
        "|---|---|---|---|---|",
    ]
    for metric in METRICS:
        s = report.summary[metric]
        lines.append(f"| {METRIC_LABELS[metric]} | {s.n} | {_pct(s.median_abs, 1).lstrip('+')} | "
                     f"{_pct(s.max_abs).lstrip('+')} | {_pct(s.median_signed)} |")
    if len(report.by_instance) > 1:
        lines += [
            "",
            "Median \\|error\\| per instance (load points; max throughput: cells):",
            "",
            "| instance | points | " + " | ".join(METRIC_LABELS[m] for m in METRICS) + " |",
            "|---|---|" + "---|" * len(METRICS),
        ]
        for key, summ in report.by_instance.items():
            lines.append(f"| {key} | {summ[POINT_METRICS[0]].n} | " + " | ".join(
                _pct(summ[m].median_abs).lstrip("+") for m in METRICS) + " |")
    lines += [
        "",
        "Per load point: measured / simulated (error). Measured values are medians over the "
        "point's repeats; each repeat is replayed with its own arrival seed.",
        "",
        "| instance folder | workload | load | req/s | rep | "
        + " | ".join(h for _, h, _, _ in _POINT_COLUMNS) + " |",
        "|---|---|---|---|---|" + "---|" * len(_POINT_COLUMNS),
    ]
    for p in report.points:
        cols = [
            f"{_val(p.ref[m], k, f)} / {_val(p.sim[m], k, f)} ({_pct(p.error(m))})"
            for m, _, k, f in _POINT_COLUMNS
        ]
        lines.append(f"| {_where(report, p.cell)} | {p.cell.workload} | {p.point} | {p.rate_rps:.1f} | "
                     f"{p.n_repeats} | " + " | ".join(cols) + " |")
    if report.searches:
        lines += [
            "",
            "Max throughput under each cell's own SLO (req/s): measured search result and its "
            "bracket [last rate that met the SLO, first that missed], simulated bisection.",
            "",
            "| instance folder | workload | SLO TTFT / TBT p90 ms | measured | bracket | "
            "simulated | error | in bracket |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in report.searches:
            c = s.cell
            slo = f"{_val(c.slo_ttft_s, 1e3, '.0f')} / {_val(c.slo_tbt_s, 1e3, '.1f')}"
            bracket = (f"[{_val(s.ref_lower_rps, 1, '.1f')}, "
                       f"{_val(s.ref_upper_rps, 1, '.1f')}]")
            inside = {True: "yes", False: "no", None: "–"}[s.in_interval]
            lines.append(f"| {_where(report, c)} | {c.workload} | {slo} | {_val(s.ref_rps, 1, '.1f')} | "
                         f"{bracket} | {_val(s.sim_rps, 1, '.1f')} | {_pct(s.error())} | "
                         f"{inside} |")
    return "\n".join(lines) + "\n"
