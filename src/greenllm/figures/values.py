"""The y values figures plot: latency in ms, and the paper's normalised quantities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from greenllm.analysis.normalize import (
    describe_reference,
    normalize_to_max,
    normalize_to_reference,
)
from greenllm.errors import ConfigError
from greenllm.figures.plot import ValueFn

PERCENTILES = ("p50", "p90", "p99", "mean")
_LATENCY_NAMES = {"ttft": "TTFT", "tbt": "TBT"}


def latency_column(metric: str, percentile: str) -> str:
    if percentile not in PERCENTILES:
        raise ConfigError(f"percentile must be one of {', '.join(PERCENTILES)}, got {percentile!r}")
    return f"{metric}_{percentile}_s"


def latency_ylabel(metric: str, percentile: str) -> str:
    return f"{_LATENCY_NAMES[metric]} {percentile} (ms)"


def in_ms(column: str) -> ValueFn:
    def value(rows: pd.DataFrame) -> tuple[pd.Series, list[str]]:
        return rows[column] * 1000.0, []

    return value


def normalized(
    column: str, reference: Mapping[str, Any], *, within: Sequence[str] = ()
) -> ValueFn:
    """``column`` / its value at ``reference``; falls back to the figure's max, saying so."""

    def value(rows: pd.DataFrame) -> tuple[pd.Series, list[str]]:
        ref_label = describe_reference(reference, rows[rows[column].notna()])
        scaled = normalize_to_reference(rows, column, reference, within=within)
        if scaled.notna().all():
            return scaled, [f"Normalised to {ref_label}" + _per(within) + "."]
        fallback = normalize_to_max(rows, column, within=within)
        return scaled.fillna(fallback), [
            f"Reference {ref_label} not measured" + _per(within)
            + ": affected lines normalised to their maximum instead."
        ]

    return value


def normalized_ylabel(quantity: str, reference: Mapping[str, Any]) -> str:
    parts = []
    for key, want in reference.items():
        if key == "tp":
            parts.append("max TP" if want == "max" else f"TP{want}")
        elif key == "max_batch":
            parts.append("max batch" if want == "max" else f"batch {want}")
        elif key == "clock_mhz":
            parts.append("max clock" if want == "max" else f"{want} MHz")
        else:
            parts.append(f"{key}={want}")
    return f"{quantity}\n(normalised to {' @ '.join(parts)})"


def _per(within: Sequence[str]) -> str:
    names = {"workload_id": "workload", "load_point": "load point"}
    return f" per {', '.join(names.get(w, w) for w in within)}" if within else ""
