"""Small pieces the paper-claim checks share: verdicts, clock choice, row descriptions,
and the ``Effect`` a check names so that its uncertainty can be computed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from greenllm.analysis.flatten import ROW_KEY
from greenllm.analysis.studies import Study

CONSISTENT = "consistent"
NOT_CONSISTENT = "not consistent"
NOT_MEASURABLE = "not measurable here (missing cells)"
AMBIGUOUS = "ambiguous in paper"
NOT_RESOLVED = "not resolved (within noise)"

PCT_TOLERANCE_PP = 10.0  # the paper quotes round numbers ("~20 %"): ± 10 percentage points
NO_COST_TOLERANCE = 0.05  # "no impact" / "about the same": within 5 %
NEAREST_CLOCK_MAX_MHZ = 150.0  # a stand-in clock must be this close to the paper's


class NotMeasurable(Exception):
    """The rows a claim needs are not in the table; the message says which."""


@dataclass(frozen=True)
class Operand:
    """One measured number an effect is computed from: a metric at one statistics row."""

    key: tuple[object, ...]  # ROW_KEY values: instance_id, clock_label, workload_id, load point
    metric: str


@dataclass(frozen=True)
class Effect:
    """How a claim's headline number follows from measured numbers, for its uncertainty.

    ``fn`` maps a (B, k) matrix (one column per operand, B draws) to B effect values; it
    must give the check's headline ``value`` when fed the operands' medians. The effect
    is *resolved* when its interval excludes ``null``: for a claim that an effect exists
    (``asserts_effect``), ``null`` is "no effect" and a consistent verdict needs it
    resolved; for a claim that something is the same (``asserts_effect=False``), ``null``
    is the tolerance and a not-consistent verdict needs the excess resolved.
    """

    operands: tuple[Operand, ...]
    fn: Callable[[np.ndarray], np.ndarray]
    null: float = 0.0
    asserts_effect: bool = True
    unit: str = " %"


@dataclass
class Measured:
    """What a check found: the value, its verdict and where it came from."""

    value: float | None  # the headline number (percent, ratio or count) for tests
    text: str  # the measured value as the table shows it
    verdict: str
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    clocks_used: str = ""
    notes: list[str] = field(default_factory=list)
    effect: Effect | None = None  # how ``value`` follows from cells, for its interval


def within(measured_pct: float, paper_pct: float, tol_pp: float = PCT_TOLERANCE_PP) -> str:
    return CONSISTENT if abs(measured_pct - paper_pct) <= tol_pp else NOT_CONSISTENT


def pinned_clocks(rows: pd.DataFrame) -> list[float]:
    return sorted(rows.loc[rows["clock_mode"] == "pin", "clock_mhz"].dropna().unique())


def nearest_clock(available: Iterable[float], target: float, what: str) -> tuple[float, str]:
    """The measured clock closest to ``target`` and a note when it is not ``target``."""
    available = list(available)
    if not available:
        raise NotMeasurable(f"no pinned clocks for {what}")
    best = min(available, key=lambda c: (abs(c - target), -c))
    if abs(best - target) > NEAREST_CLOCK_MAX_MHZ:
        raise NotMeasurable(f"no clock within {NEAREST_CLOCK_MAX_MHZ:.0f} MHz of {target:.0f} MHz "
                            f"for {what} (have {', '.join(f'{c:.0f}' for c in available)})")
    note = "" if best == target else f"used {best:.0f} MHz for {what} ({target:.0f} MHz)"
    return best, note


def common_clocks(rows: pd.DataFrame, group: str) -> list[float]:
    """Pinned clocks present in every group (e.g. every TP degree)."""
    sets = [set(g.loc[g["clock_mode"] == "pin", "clock_mhz"].dropna())
            for _, g in rows.groupby(group)]
    return sorted(set.intersection(*sets)) if sets else []


def require(
    rows: pd.DataFrame, col: str, values: Iterable[object], label: str, metric: str
) -> None:
    """NotMeasurable naming the groups (e.g. 'TP2, TP4') that have no usable ``metric``."""
    absent = [v for v in values if not (rows[col] == v).any()]
    if absent:
        names = ", ".join(label.format(v) for v in absent)
        raise NotMeasurable(f"no usable {metric} for {names} (cells missing or failed)")


def value_at(rows: pd.DataFrame, metric: str, **where: object) -> float:
    """The metric of the single row matching ``where``; NotMeasurable if absent."""
    match = rows
    for col, want in where.items():
        match = match[match[col] == want]
    match = match[match[metric].notna()]
    if match.empty:
        desc = ", ".join(f"{k}={v}" for k, v in where.items())
        raise NotMeasurable(f"no {metric} for {desc}")
    return float(match[metric].mean())


def operand(rows: pd.DataFrame, metric: str, **where: object) -> Operand:
    """The operand for ``metric`` at the single row matching ``where`` (see ``value_at``)."""
    mask = rows[metric].notna().to_numpy().copy()
    for col, want in where.items():
        mask &= (rows[col] == want).to_numpy()
    if not mask.any():
        desc = ", ".join(f"{k}={v}" for k, v in where.items())
        raise NotMeasurable(f"no {metric} for {desc}")
    first = rows.index[mask][0]  # only the key columns: rows are wide
    return Operand(tuple(rows.at[first, c] for c in ROW_KEY), metric)


def row_key(row: pd.Series) -> tuple[object, ...]:
    return tuple(row[c] for c in ROW_KEY)


def describe_rows(rows: pd.DataFrame) -> str:
    """'llama2-70b_tp8_b64 · S-S · medium · 1000, 1980 MHz (2 rows)' style summary."""
    if rows.empty:
        return "-"
    parts = [
        ", ".join(sorted(rows["instance_id"].unique())),
        ", ".join(sorted(rows["workload_id"].unique())),
    ]
    loads = sorted(rows["load_point"].dropna().unique())
    if loads:
        parts.append(", ".join(f"{lp} load" for lp in loads))
    clocks = sorted(rows["clock_mhz"].dropna().unique())
    parts.append(", ".join(f"{c:.0f}" for c in clocks) + " MHz")
    return " · ".join(parts) + f" ({len(rows)} rows)"


def data_kind(rows: pd.DataFrame) -> str:
    if rows.empty:
        return ""
    sim = rows["simulated"].astype(bool)
    if sim.all():
        return "SIMULATED"
    if sim.any():
        return "partly SIMULATED"
    observed = (rows["clock_mode"] == "observe").any()
    return "measured (clock observed, not pinned)" if observed else "measured"


def pct(x: float) -> str:
    return f"{x:.1f} %"


@dataclass(frozen=True)
class Claim:
    claim_id: str
    statement: str  # quoted from the paper
    paper_value: str
    criterion: str  # how the verdict is decided
    source: str  # figure ids whose rows the check uses
    check: Callable[[pd.DataFrame, Mapping[str, Study]], Measured]
