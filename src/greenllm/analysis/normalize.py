"""The paper's "normalized" quantities (Figs 5, 9, 10, 14, 15), defined once.

* ``normalize_to_max``: value / max of the value over the figure (or within groups).
* ``normalize_to_reference``: value / the value of a named reference configuration, e.g.
  ``{"tp": "max", "clock_mhz": "max"}`` = TP8 at the highest clock; ``"max"``/``"min"``
  pick the extreme present (among rows where the value was measured).
* Total energy at a load point is compared *for the same work*: energy per request ×
  a fixed request count (``TOTAL_ENERGY_REQUESTS``). A fixed time window would charge a
  faster configuration for serving more requests in it; the paper's medium load is a
  fraction of each configuration's own max throughput, so request rates differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

TOTAL_ENERGY_REQUESTS = 1000  # requests; the constant cancels in every normalised figure


def total_energy_j(rows: pd.DataFrame, n_requests: int = TOTAL_ENERGY_REQUESTS) -> pd.Series:
    """Energy (J) to serve ``n_requests`` at each row's load point: the same work for all."""
    return rows["energy_per_request_j"] * n_requests


def normalize_to_max(
    rows: pd.DataFrame, value: str, *, within: Sequence[str] = ()
) -> pd.Series:
    """``value`` divided by its maximum over all rows (or over each ``within`` group)."""
    if within:
        peak = rows.groupby(list(within), dropna=False)[value].transform("max")
    else:
        peak = pd.Series(rows[value].max(), index=rows.index)
    return rows[value] / peak.replace(0, np.nan)


def normalize_to_reference(
    rows: pd.DataFrame,
    value: str,
    reference: Mapping[str, Any],
    *,
    within: Sequence[str] = (),
) -> pd.Series:
    """``value`` divided by the reference row's value (per ``within`` group).

    A group whose reference row is missing (or has no value) gets NaN: the caller decides
    what to fall back to and says so.
    """
    groups = rows.groupby(list(within), dropna=False, sort=False) if within else [(None, rows)]
    out = pd.Series(np.nan, index=rows.index, dtype="float64")
    for _, group in groups:
        ref = reference_value(group, value, reference)
        if ref is not None and ref != 0:
            out.loc[group.index] = group[value] / ref
    return out


def reference_value(rows: pd.DataFrame, value: str, reference: Mapping[str, Any]) -> float | None:
    """The value at the reference configuration, or None if it was not measured."""
    match = rows[rows[value].notna()]
    for col, want in reference.items():
        if match.empty:
            return None
        if want == "max":
            want = match[col].max()
        elif want == "min":
            want = match[col].min()
        match = match[match[col] == want]
    if match.empty:
        return None
    return float(match[value].mean())  # one row in practice; mean keeps duplicates harmless


def describe_reference(reference: Mapping[str, Any], rows: pd.DataFrame) -> str:
    """'TP8 @ 1980 MHz' style label of the reference actually used."""
    parts = []
    for col, want in reference.items():
        if want in ("max", "min"):
            present = rows[col].dropna()
            want = present.max() if want == "max" else present.min()
        if col == "tp":
            parts.append(f"TP{int(want)}")
        elif col == "max_batch":
            parts.append(f"batch {int(want)}")
        elif col == "clock_mhz":
            parts.append(f"{float(want):.0f} MHz")
        else:
            parts.append(f"{col}={want}")
    return " @ ".join(parts)
