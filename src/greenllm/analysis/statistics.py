"""The statistics table: one row per (instance, clock, workload, load point) over its repeats.

It has every column of the cells table (``flatten.COLUMNS``, less ``repeat``), so figures
and claims use it exactly like the cells table, but each metric column holds the
**median over repeats**, and for every metric of ``STAT_METRICS``:

* ``<metric>_ci_lo`` / ``<metric>_ci_hi``: the 95 % percentile-bootstrap CI of that median
  over repeats, widened at every repeat count but 5 to hold the median ± a Student t
  half-width too (NaN with fewer than 3 repeats: see ``uncertainty`` for why repeats, why
  not fewer and why the widening);
* ``<metric>_cv``: coefficient of variation over repeats (NaN with fewer than 2);

plus ``n_repeats`` (repeats found), ``n_searches`` (max-throughput searches, which the
cell-level ``max_throughput_*`` statistics run over), ``ci_method`` and ``high_spread``
(``high_spread_metrics`` names them): a headline metric (``SPREAD_METRICS``) whose CV
exceeds ``cv_flag``.

Other numbers (rates, counts, clocks) are medians too; ``flags`` and
``throttle_reasons`` are the union over repeats; ``status`` is ``ok`` when any repeat is.
A table of single repeats gives the same values as the cells table, with no CIs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from greenllm.analysis.flatten import (
    COLUMNS,
    LATENCY_METRICS,
    PERCENTILE_STATS,
    ROW_KEY,
    coerce_table,
)
from greenllm.analysis.uncertainty import (
    CI_LEVEL,
    DEFAULT_CV_FLAG,
    DEFAULT_SEED,
    MIN_REPEATS_FOR_CI,
    N_BOOT,
    cv_matrix,
    median_ci_matrix,
    widened_at,
)

# Metrics of a cell (one value per search, not per load point repeat).
CELL_METRICS = ("max_throughput_rps", "max_throughput_output_tok_s")
LOAD_METRICS = (
    *(f"{m}_{s}_s" for m in LATENCY_METRICS for s in PERCENTILE_STATS),
    "throughput_rps", "output_tok_s", "goodput_rps", "slo_attainment",
    "energy_j", "energy_integral_j", "energy_per_request_j", "energy_per_output_token_j",
    "power_mean_w", "power_max_w",
)
STAT_METRICS = (*LOAD_METRICS, *CELL_METRICS)
# The metrics whose spread flags a load point (p99s and energy totals vary more by nature).
SPREAD_METRICS = (
    "ttft_p50_s", "tbt_p50_s", "tpot_p50_s", "e2e_p50_s", "throughput_rps", "output_tok_s",
    "energy_per_request_j", "energy_per_output_token_j", "power_mean_w", "power_max_w",
    "max_throughput_rps",
)
CI_BOOTSTRAP = "bootstrap"  # percentile bootstrap of the median over repeats
CI_BOOTSTRAP_T = "bootstrap+t"  # n != 5: that, widened by a Student t interval
CI_NONE = "none"  # fewer than MIN_REPEATS_FOR_CI repeats
_JOINED = ("flags", "throttle_reasons")
_FIRST_KINDS = ("str", "bool")

STAT_COLUMNS: dict[str, str] = {
    "n_repeats": "int",
    "n_searches": "int",
    "ci_method": "str",
    "high_spread": "bool",
    "high_spread_metrics": "joined",
    **{f"{m}_{suffix}": "float" for m in STAT_METRICS for suffix in ("ci_lo", "ci_hi", "cv")},
}


def ci_columns(metric: str) -> tuple[str, str]:
    return f"{metric}_ci_lo", f"{metric}_ci_hi"


def is_statistics_table(table: pd.DataFrame) -> bool:
    return "n_repeats" in table.columns


def ensure_statistics(table: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    """``table`` if it is already a statistics table, else ``statistics_table(table)``."""
    return table if is_statistics_table(table) else statistics_table(table, **kwargs)


def statistics_table(
    table: pd.DataFrame,
    *,
    cv_flag: float = DEFAULT_CV_FLAG,
    level: float = CI_LEVEL,
    n_boot: int = N_BOOT,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """One row per (instance, clock, workload, load point) of a cells table (see module)."""
    rows = table.reset_index(drop=True)
    if "repeat" not in rows.columns:
        rows = rows.assign(repeat=0)
    if "search_repeat" not in rows.columns:
        rows = rows.assign(search_repeat=0)
    grouped = rows.groupby(list(ROW_KEY), dropna=False, sort=False)
    codes = grouped.ngroup().to_numpy()
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    first = rows.loc[grouped.head(1).index].reset_index(drop=True)  # group order
    out = first.drop(columns=["repeat", "search_repeat"])
    sizes = np.bincount(codes, minlength=n_groups)

    values = _metric_cube(rows, codes, n_groups)  # (G, N, M)
    counts = np.isfinite(values).sum(axis=1)
    with warnings.catch_warnings():  # an all-NaN metric (never measured) has no median
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(values, axis=1)
    medians = np.where(counts > 0, medians, np.nan)
    cvs = cv_matrix(values)
    lo, hi = median_ci_matrix(values, level=level, n_boot=n_boot, seed=seed)
    metrics = [m for m in STAT_METRICS if m in rows.columns]
    out = out.drop(columns=metrics)
    columns: dict[str, np.ndarray] = {m: medians[:, j] for j, m in enumerate(metrics)}
    for j, m in enumerate(metrics):
        columns[f"{m}_ci_lo"], columns[f"{m}_ci_hi"] = lo[:, j], hi[:, j]
        columns[f"{m}_cv"] = cvs[:, j]
    cell_idx = [metrics.index(m) for m in CELL_METRICS if m in metrics]
    columns["n_searches"] = counts[:, cell_idx[0]] if cell_idx else np.zeros(n_groups, int)

    if (sizes > 1).any():
        _aggregate_repeats(rows, grouped, out, metrics)
    spread = pd.DataFrame({m: cvs[:, j] for j, m in enumerate(metrics) if m in SPREAD_METRICS})
    high = spread.gt(cv_flag)
    columns["high_spread"] = high.any(axis=1).to_numpy()
    columns["high_spread_metrics"] = np.array(
        [";".join(c for c in high.columns if flags[c]) for _, flags in high.iterrows()]
        if len(high) else [], dtype=object)
    widened = np.array([widened_at(int(k)) for k in sizes], dtype=bool)
    columns["ci_method"] = np.select(
        [widened, sizes >= MIN_REPEATS_FOR_CI], [CI_BOOTSTRAP_T, CI_BOOTSTRAP], CI_NONE)
    extra = pd.DataFrame(columns, index=out.index)
    for name in ("ci_method", "high_spread_metrics"):
        extra[name] = extra[name].astype("str")
    extra["n_repeats"] = sizes.astype("int64")
    extra["n_searches"] = extra["n_searches"].astype("int64")
    out = pd.concat([out, extra], axis=1)
    order = [c for c in COLUMNS if c in out.columns] + [c for c in out.columns if c not in COLUMNS]
    # One consolidated block, cells-table column order first. Kinds are already those of
    # the cells table (no coercion: it would cost more than the statistics).
    return out[order].copy()


def _metric_cube(rows: pd.DataFrame, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """(G, N, M) metric values, NaN-padded; cell metrics once per search, not per repeat."""
    metrics = [m for m in STAT_METRICS if m in rows.columns]
    position = rows.groupby(codes).cumcount().to_numpy()
    width = int(position.max()) + 1 if len(position) else 1
    # copy: under copy-on-write the array can be a read-only view of the table
    data = rows[metrics].to_numpy(dtype=float, na_value=np.nan, copy=True)
    # A search's max throughput is repeated on every row it covers: count it once.
    repeated_search = rows.assign(_g=codes).duplicated(["_g", "search_repeat"]).to_numpy()
    for m in CELL_METRICS:
        if m in metrics:
            data[repeated_search, metrics.index(m)] = np.nan
    cube = np.full((n_groups, width, len(metrics)), np.nan)
    cube[codes, position, :] = data
    return cube


def _aggregate_repeats(rows: pd.DataFrame, grouped, out: pd.DataFrame,
                       metrics: list[str]) -> None:
    """Non-metric columns of groups with several repeats: medians, unions, first/last."""
    numeric = [c for c, kind in COLUMNS.items()
               if kind in ("float", "int") and c in rows.columns and c not in metrics
               and c not in ("repeat", "search_repeat", "tp", "max_batch")]
    med = grouped[numeric].median().reset_index(drop=True)
    for c in numeric:
        out[c] = med[c].to_numpy()
    for c in _JOINED:
        if c in rows.columns:
            out[c] = grouped[c].agg(_union).reset_index(drop=True).astype("str").to_numpy()
    ok = grouped["status"].agg(lambda s: "ok" if (s == "ok").any() else s.iloc[0])
    out["status"] = ok.reset_index(drop=True).to_numpy()
    if "started_at" in rows.columns:
        out["started_at"] = grouped["started_at"].min().reset_index(drop=True).to_numpy()
        out["finished_at"] = grouped["finished_at"].max().reset_index(drop=True).to_numpy()


def _union(values: pd.Series) -> str:
    seen: dict[str, None] = {}
    for text in values.astype(str):
        for item in text.split(";"):
            if item and item not in ("nan", "None"):
                seen.setdefault(item)
    return ";".join(seen)


def coerce_statistics(frame: pd.DataFrame) -> pd.DataFrame:
    """Column kinds of a statistics table (also one read back from CSV)."""
    frame = coerce_table(frame)
    for name, kind in STAT_COLUMNS.items():
        if name not in frame.columns:
            continue
        col = frame[name]
        if kind == "float":
            frame[name] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif kind == "int":
            frame[name] = pd.to_numeric(col, errors="coerce").fillna(0).astype("int64")
        elif kind == "bool":
            frame[name] = col.map(lambda v: str(v).strip().lower() in ("true", "1")).astype(bool)
        else:
            frame[name] = col.fillna("").astype("str")
    return frame.copy()  # consolidate the replaced columns into one block


class RowIndex:
    """Rows of a table by ROW_KEY (instance, clock, workload, load point), looked up in O(1).

    Claims look up dozens of operands; filtering a wide frame column by column for each
    costs more than all the checks together.
    """

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self._positions: dict[tuple[object, ...], list[int]] = {}
        columns = [table[c].tolist() for c in ROW_KEY]
        for i, key in enumerate(zip(*columns, strict=True)):
            self._positions.setdefault(_normal_key(key), []).append(i)

    def rows(self, key: tuple[object, ...], columns: list[str] | None = None) -> pd.DataFrame:
        table = self.table if columns is None else self.table[columns]
        return table.iloc[self._positions.get(_normal_key(key), [])]

    def first(self, key: tuple[object, ...]) -> pd.Series | None:
        positions = self._positions.get(_normal_key(key))
        return self.table.iloc[positions[0]] if positions else None


def repeat_values(index: RowIndex, key: tuple[object, ...], metric: str) -> np.ndarray:
    """The finite per-repeat values of ``metric`` at ``key`` in a cells table (cell
    metrics: one value per max-throughput search, not per load-point repeat)."""
    wanted = [metric] + (["search_repeat"] if "search_repeat" in index.table.columns else [])
    rows = index.rows(key, wanted)
    if metric in CELL_METRICS and "search_repeat" in rows.columns:
        rows = rows.drop_duplicates("search_repeat")
    values = rows[metric].to_numpy(dtype=float, na_value=np.nan)
    return values[np.isfinite(values)]


def _normal_key(key: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(None if _isna(v) else v for v in key)


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
