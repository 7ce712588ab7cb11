"""Pick a study's rows from the cells table and say which expected cells are missing.

Figures and claims share this so that both use exactly the same rows, and so that a
figure can list on its face what it could not show (no cell, failed cell, or a cell
without the plotted metric) instead of silently drawing fewer points.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from greenllm.analysis.flatten import CELL_KEY
from greenllm.analysis.statistics import ensure_statistics
from greenllm.analysis.studies import Study
from greenllm.errors import ConfigError

# Dimensions of the expected grid, in the order labels name them.
DIMS = ("tp", "max_batch", "workload_id", "load_point", "clock_mhz")


@dataclass
class Selection:
    """A study's rows (failed ones included) and the grid of cells it expected."""

    study: Study
    rows: pd.DataFrame
    expected: pd.DataFrame  # one row per expected point, columns = dims
    dims: tuple[str, ...]

    def usable(self, metric: str) -> pd.DataFrame:
        """Rows of ok cells where ``metric`` was measured."""
        # A row without a clock (observe mode, no clock readings) cannot be placed on x.
        ok = ((self.rows["status"] == "ok") & self.rows[metric].notna()
              & self.rows["clock_mhz"].notna())
        return self.rows[ok].copy()

    def missing(self, metric: str) -> list[str]:
        """One 'label (why)' entry per expected point with no usable row."""
        return _missing(self, metric)

    @property
    def observed_clocks(self) -> bool:
        return bool((self.rows["clock_mode"] == "observe").any())


def select_rows(
    table: pd.DataFrame,
    study: Study,
    *,
    load_points: Sequence[str] | None = None,
    per_cell: bool = False,
) -> Selection:
    """Rows of ``study``'s instances, workloads, clocks and ``load_points``.

    ``per_cell``: the metric belongs to the cell (max throughput under SLO), so keep one
    row per cell, preferring the study's load point. Failed cells without load points are
    kept so that they can be reported.

    ``table`` may be the cells table (one row per repeat) or its statistics table; rows
    come from the statistics table (medians over repeats with their CIs), so pass that
    when selecting many times from one table (it is computed here otherwise).
    """
    table = ensure_statistics(table)
    load_points = tuple(load_points or (study.load,))
    rows = table[
        table["tp"].isin(study.tps)
        & table["max_batch"].isin(study.max_batches)
        & table["workload_id"].isin(study.workloads)
    ]
    rows = _one_model(rows, study)
    if study.clocks_mhz:
        pinned = rows["clock_mode"] == "pin"
        rows = rows[~pinned | rows["clock_mhz"].isin([float(c) for c in study.clocks_mhz])]
    if per_cell:
        preferred = rows["load_point"].isin(load_points)
        rows = (rows.assign(_pref=~preferred)
                .sort_values("_pref", kind="stable")
                .drop_duplicates(list(CELL_KEY))
                .drop(columns="_pref"))
    else:
        rows = rows[rows["load_point"].isin(load_points) | rows["load_point"].isna()]
    rows = rows.sort_values(["tp", "max_batch", "workload_id", "clock_mhz"], ignore_index=True)
    dims = tuple(d for d in DIMS if not (per_cell and d == "load_point"))
    clocks = _expected_clocks(rows, study)
    if clocks is None:
        dims = tuple(d for d in dims if d != "clock_mhz")
    values = {
        "tp": study.tps,
        "max_batch": study.max_batches,
        "workload_id": study.workloads,
        "load_point": load_points,
        "clock_mhz": clocks,
    }
    expected = pd.DataFrame(list(itertools.product(*(values[d] for d in dims))), columns=list(dims))
    return Selection(study=study, rows=rows, expected=expected, dims=dims)


def _one_model(rows: pd.DataFrame, study: Study) -> pd.DataFrame:
    if study.model:
        return rows[rows["model"] == study.model]
    models = sorted(rows["model"].dropna().unique())
    if len(models) > 1:
        raise ConfigError(
            f"the table holds several models ({', '.join(models)}): name one as the study's model"
        )
    return rows


def _expected_clocks(rows: pd.DataFrame, study: Study) -> tuple[float, ...] | None:
    """Pinned clocks the study expects; None when clocks were only observed."""
    if not rows.empty and not (rows["clock_mode"] == "pin").any():
        return None  # observe mode: one achieved clock per cell, nothing to expect
    if study.clocks_mhz:
        return tuple(float(c) for c in study.clocks_mhz)
    pinned = rows.loc[rows["clock_mode"] == "pin", "clock_mhz"].dropna().unique()
    return tuple(sorted(float(c) for c in pinned)) or None


def _missing(sel: Selection, metric: str) -> list[str]:
    dims = list(sel.dims)
    # State of each expected point, from a narrow copy of the rows (figures call this
    # once per render: keep it cheap).
    narrow = sel.rows[dims + ["status", "error", metric]]
    states: dict[tuple[object, ...], list[tuple[str, object, bool]]] = {}
    load_points = sel.expected["load_point"].unique() if "load_point" in dims else [None]
    for rec in narrow.itertuples(index=False):
        values = dict(zip(dims, rec[: len(dims)], strict=True))
        status, error, value = rec[len(dims):]
        # A failed cell has no load point rows: it stands for every load point.
        lps = load_points if "load_point" in dims and pd.isna(values["load_point"]) else [None]
        for lp in lps:
            if lp is not None:
                values["load_point"] = lp
            states.setdefault(tuple(values[d] for d in dims), []).append(
                (status, error, bool(pd.notna(value))))
    varying = [d for d in dims if sel.expected[d].nunique() > 1] or dims
    on_watts = "x_knob" in sel.rows.columns and bool((sel.rows["x_knob"] == "power_limit").any())
    unit = "W" if on_watts else "MHz"
    out = []
    for point in sel.expected.itertuples(index=False):
        label = point_label(dict(zip(dims, point, strict=True)), varying, unit)
        found = states.get(tuple(point), [])
        ok = [has for status, _, has in found if status == "ok"]
        if not found:
            out.append(f"{label} (no cell)")
        elif not ok:
            errors = [e for _, e, _ in found if isinstance(e, str) and e]
            # e.g. "no max throughput: none of 4 probes … met the SLO" says its own kind
            kind = "" if found[0][0] == "no_max_throughput" and errors else "failed: "
            out.append(f"{label} ({kind}{errors[0] if errors else 'no error recorded'})")
        elif not any(ok):
            out.append(f"{label} (no {metric})")
    return out


def point_label(point: dict[str, object], dims: Sequence[str], unit: str = "MHz") -> str:
    """E.g. 'TP4 · 1000 MHz' for the dimensions that vary in a figure (``unit``: W when
    the power limit is on x, figures.knob_axis)."""
    parts = []
    for d in dims:
        v = point[d]
        if d == "tp":
            parts.append(f"TP{v}")
        elif d == "max_batch":
            parts.append(f"batch {v}")
        elif d == "clock_mhz":
            parts.append(f"{float(v):.0f} {unit}")
        elif d == "load_point":
            parts.append(f"{v} load")
        else:
            parts.append(str(v))
    return " · ".join(parts)
