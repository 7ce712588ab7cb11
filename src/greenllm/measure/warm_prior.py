"""Where a cell's max-throughput search starts (``greenllm.search.warm_start``).

From the bracket already measured for the same workload at the nearest other clock of
this instance (its summary.json on disk: also after a resume), else from the
simulator's prediction for the instance's model shape at this clock under the cell's
SLO, else nothing (the cold search of ``find_max_throughput``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from greenllm.engine.capacity import predicted_max_rate
from greenllm.search.slo import Slo
from greenllm.search.warm_start import Prior, prior_from_neighbours


def measured_brackets(out: Path, workload_id: str, skip_label: str) -> dict[int, tuple[Any, Any]]:
    """{clock MHz: (lower_rps, upper_rps)} of this workload's cells already searched."""
    brackets: dict[int, tuple[Any, Any]] = {}
    for path in sorted((out / "cells").glob(f"f*/{workload_id}/summary.json")):
        label = path.parent.parent.name
        if label == skip_label:
            continue
        try:
            mt = json.loads(path.read_text()).get("max_throughput") or {}
            brackets[int(label[1:])] = (mt.get("lower_rps"), mt.get("upper_rps"))
        except (ValueError, OSError):
            continue
    return brackets


def predicted_prior(model: str, tp: int, max_batch: int, input_tokens: int,
                    output_tokens: int, clock_mhz: int | None, slo: Slo) -> Prior | None:
    """The simulator's max rate under ``slo`` (``engine.capacity``), as a prior."""
    rate = predicted_max_rate(model, tp, max_batch, input_tokens, output_tokens, clock_mhz,
                              slo.ttft_s, slo.tbt_s, slo.percentile)
    return Prior(rate, None, "simulator prediction") if rate else None


def cell_prior(out: Path, clock_label: str, clock_mhz: int | None, workload: Any,
               model: str, tp: int, max_batch: int, slo: Slo) -> Prior | None:
    if clock_mhz is not None:
        prior = prior_from_neighbours(measured_brackets(out, workload.id, clock_label),
                                      clock_mhz)
        if prior is not None:
            return prior
    return predicted_prior(model, tp, max_batch, workload.input_tokens, workload.output_tokens,
                           clock_mhz, slo)
