"""The paper's metric figures with the power limit on the x axis instead of the SM clock.

The figure functions plot ``clock_mhz``; this view keeps only the cells that swept the
power limit (``knob_axis == "power_limit"``, cells ``p<W>``) and puts their power limit in
that column, so every one of Figs 1-15 draws unchanged with ``--x power_limit``. The
study's expected "clocks" become the power limits the table holds, so a missing or failed
limit is still listed on the figure's face; axis labels and titles say watts.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from greenllm.analysis.studies import Study
from greenllm.errors import ConfigError

X_AXES = ("sm_clock", "power_limit")
X_KNOB = "x_knob"  # column naming the knob on x (absent: the SM clock)


def power_limit_view(table: pd.DataFrame, study: Study) -> tuple[pd.DataFrame, Study]:
    if "knob_axis" not in table.columns:
        raise ConfigError("the table has no knob_axis column: aggregate it again with this greenllm")
    rows = table[table["knob_axis"] == "power_limit"].copy()
    rows["clock_mhz"] = rows["power_limit_requested_w"]
    rows[X_KNOB] = "power_limit"
    limits = tuple(sorted(float(w) for w in rows["power_limit_requested_w"].dropna().unique()))
    return rows, replace(study, clocks_mhz=limits or None)


def view(table: pd.DataFrame, study: Study, x: str) -> tuple[pd.DataFrame, Study]:
    if x not in X_AXES:
        raise ConfigError(f"--x must be one of {', '.join(X_AXES)}, got {x!r}")
    return (table, study) if x == "sm_clock" else power_limit_view(table, study)


def on_power_limit(rows: pd.DataFrame) -> bool:
    return X_KNOB in rows.columns and bool((rows[X_KNOB] == "power_limit").any())
