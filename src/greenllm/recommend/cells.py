"""What the planner knows about one configuration serving one workload, from a table.

Input: a cells or statistics table of ``greenllm.analysis`` (medians and 95 % CIs over
repeats; a cells table is turned into one with ``ensure_statistics``). Per (TP, max
batch, clock, workload) the planner keeps:

* the load points whose SLO holds **at the upper end of their 95 % interval** (TTFT and
  TBT at the SLO percentile, ``_ci_hi``; the median where no CI exists, noted): only
  these count;
* the capacity of one instance under the SLO: the lower end of the max-throughput
  interval when the planner's SLO is at least as loose as the one the search used,
  else only the highest load point that holds (no search under a tighter SLO exists);
* power at each counted point (median, CI low, CI high): the window's measured mean
  power (``point_power``; energy per request x rate only for tables without it).

Nothing is extrapolated: ``power_at`` interpolates between counted points and outside
them returns an upper bound, with a note saying which (see ``Power``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from greenllm.analysis.statistics import ensure_statistics
from greenllm.errors import ConfigError


@dataclass(frozen=True, order=True)
class Config:
    tp: int
    max_batch: int
    clock_mhz: int

    @property
    def label(self) -> str:
        return f"TP{self.tp} b{self.max_batch} {self.clock_mhz} MHz"


@dataclass(frozen=True)
class Slo:
    """The planner's SLO: absolute, or a scale of each cell's own baseline."""

    ttft_s: float | None = None
    tbt_s: float | None = None
    scale: float | None = None  # x the cell's baseline (requests alone); None: the table's

    def bounds(self, row: pd.Series) -> tuple[float, float]:
        if self.ttft_s is not None and self.tbt_s is not None:
            return float(self.ttft_s), float(self.tbt_s)
        if self.scale is not None:
            return (self.scale * float(row["slo_baseline_ttft_s"]),
                    self.scale * float(row["slo_baseline_tbt_s"]))
        return float(row["slo_ttft_s"]), float(row["slo_tbt_s"])


@dataclass
class CellModel:
    config: Config
    workload_id: str
    input_tokens: int
    output_tokens: int
    rates_rps: np.ndarray  # counted load points, ascending
    power_w: np.ndarray  # (3, n): median, CI low, CI high
    attainment: np.ndarray
    capacity_rps: float  # per instance, under the SLO (conservative)
    notes: list[str] = field(default_factory=list)
    has_ci: bool = True


@dataclass
class Power:
    mid: float
    lo: float
    hi: float
    attainment: float
    note: str = ""  # "" inside the measured points; else what was assumed


def _ci(row: pd.Series, metric: str) -> tuple[float, float, float, bool]:
    mid = float(row[metric])
    lo, hi = row.get(f"{metric}_ci_lo"), row.get(f"{metric}_ci_hi")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return mid, mid, mid, False
    return mid, float(lo), float(hi), True


def percentile_column(metric: str, percentile: float) -> str:
    p = int(round(percentile))
    if p not in (50, 90, 99):
        raise ConfigError(f"SLO percentile {percentile:g}: the tables hold p50, p90 and p99 only")
    return f"{metric}_p{p}_s"


def build_models(table: pd.DataFrame, slo: Slo) -> tuple[list[CellModel], list[str]]:
    """One model per (config, workload) with at least one counted point; and notes on
    the cells that have none (no load point meets the SLO at its CI's upper end)."""
    stats = ensure_statistics(table)
    need = {"tp", "max_batch", "clock_mhz", "workload_id", "load_point", "rate_rps",
            "energy_per_request_j", "slo_ttft_s", "slo_tbt_s", "slo_percentile"}
    missing = sorted(need - set(stats.columns))
    if missing:
        raise ConfigError(f"the table lacks column(s) {', '.join(missing)}: is it a greenllm "
                          "aggregate table?")
    ok = stats[(stats["status"] == "ok") & stats["load_point"].notna()
               & stats["clock_mhz"].notna()]
    notes = []
    if "clock_mode" in ok.columns and (ok["clock_mode"] == "pin").any():
        ok = ok[ok["clock_mode"] == "pin"]  # a plan sets clocks: pinned cells when there are
    elif len(ok):
        notes.append("observe-mode cells only: the clock is the card's own (its achieved "
                     "clock), which the plan can describe but not set")
    models = []
    for key, rows in ok.groupby(["tp", "max_batch", "clock_mhz", "workload_id"], sort=True):
        cfg = Config(int(key[0]), int(key[1]), int(round(float(key[2]))))
        model = _model(cfg, str(key[3]), rows.sort_values("rate_rps"), slo)
        if model is None:
            notes.append(f"{cfg.label} {key[3]}: no load point meets the SLO at the upper end "
                         "of its 95 % interval: not a candidate")
        else:
            models.append(model)
    return models, notes


def _model(cfg: Config, wid: str, rows: pd.DataFrame, slo: Slo) -> CellModel | None:
    first = rows.iloc[0]
    ttft_col = percentile_column("ttft", float(first["slo_percentile"]))
    tbt_col = percentile_column("tbt", float(first["slo_percentile"]))
    rates, power, att = [], [], []
    has_ci = True
    for _, row in rows.iterrows():
        ttft_lim, tbt_lim = slo.bounds(row)
        _, _, ttft_hi, c1 = _ci(row, ttft_col)
        _, _, tbt_hi, c2 = _ci(row, tbt_col)
        has_ci &= c1 and c2
        rate = float(row["rate_rps"])
        if not (math.isfinite(rate) and rate > 0) or pd.isna(row["energy_per_request_j"]):
            continue
        if ttft_hi > ttft_lim or tbt_hi > tbt_lim:
            continue
        watts, c3 = point_power(row, rate)
        has_ci &= c3
        rates.append(rate)
        power.append(watts)
        a = row.get("slo_attainment")
        att.append(float(a) if a is not None and not pd.isna(a) else math.nan)
    if not rates:
        return None
    table_ttft, table_tbt = float(first["slo_ttft_s"]), float(first["slo_tbt_s"])
    ttft_lim, tbt_lim = slo.bounds(first)
    cap = rates[-1]
    notes = []
    cap_lo = first.get("max_throughput_rps_ci_lo")
    if cap_lo is None or pd.isna(cap_lo):
        cap_lo = first.get("max_throughput_lower_rps")
    if ttft_lim >= table_ttft and tbt_lim >= table_tbt and cap_lo is not None \
            and not pd.isna(cap_lo):
        cap = max(cap, float(cap_lo))
    else:
        notes.append("capacity = highest load point meeting the SLO (no search under it)")
    return CellModel(cfg, wid, int(first["input_tokens"]), int(first["output_tokens"]),
                     np.asarray(rates), np.asarray(power).T, np.asarray(att), cap, notes, has_ci)


def point_power(row: pd.Series, rate: float) -> tuple[tuple[float, float, float], bool]:
    """(median, CI low, CI high) instance power at one load point, and whether a CI exists.

    The window's measured mean power (its energy over its seconds) where the table has
    it. Energy per request x the point's *nominal* rate is only the fallback (tables
    without ``power_mean_w``): a window spans a fixed number of sends, so its length, and
    the rate that really arrived in it, carries the Poisson schedule's noise (up to ~15 %
    off nominal in a 6-10 s window; CV ~1/sqrt(sends)), which multiplying back by the
    nominal rate puts into the power; GPU power itself varied ~3 % between repeats. On the
    H100 trace check's cells the product read 5-14 % high at three of four rates
    (docs/planner.md, "Pricing a window")."""
    if "power_mean_w" in row.index and not pd.isna(row["power_mean_w"]):
        mid, lo, hi, has_ci = _ci(row, "power_mean_w")
        return (mid, lo, hi), has_ci
    e_mid, e_lo, e_hi, has_ci = _ci(row, "energy_per_request_j")
    return (e_mid * rate, e_lo * rate, e_hi * rate), has_ci


def power_at(model: CellModel, rate: float) -> Power:
    """Instance power serving ``rate`` req/s of the model's workload (<= capacity).

    Between counted points: linear. Below the lowest: that point's power, an upper
    bound (power falls with load). Above the highest (up to capacity): its energy per
    request times the rate, an upper bound (energy per request falls with load)."""
    r, p = model.rates_rps, model.power_w
    att = model.attainment
    if rate <= r[0]:
        note = "below_lowest_point" if rate < r[0] * 0.999 else ""
        return Power(*p[:, 0], attainment=float(att[0]), note=note)
    if rate >= r[-1]:
        k = rate / r[-1]
        note = "above_highest_point" if rate > r[-1] * 1.001 else ""
        return Power(*(p[:, -1] * k), attainment=float(att[-1]), note=note)
    vals = [float(np.interp(rate, r, p[i])) for i in range(3)]
    return Power(*vals, attainment=float(np.interp(rate, r, att)))


def models_by_config(models: list[CellModel]) -> dict[Config, dict[str, CellModel]]:
    out: dict[Config, dict[str, CellModel]] = {}
    for m in models:
        out.setdefault(m.config, {})[m.workload_id] = m
    return out
