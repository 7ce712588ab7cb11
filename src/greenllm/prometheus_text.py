"""Prometheus text format, parsed: the series a greenllm tool reads from ``/metrics``.

Pure parsing (no request is sent), so both the engine layer, which reads a running
server's counters, and analysis, which reads saved scrapes, use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def parse_counters(text: str, names: Iterable[str]) -> dict[str, float]:
    """Sum of each named series over its label sets, from Prometheus text format; a name
    with no sample is absent from the result."""
    wanted = set(names)
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_end = min((i for i in (line.find("{"), line.find(" ")) if i >= 0), default=-1)
        if name_end < 0 or line[:name_end] not in wanted:
            continue
        value_text = line.rsplit("}", 1)[-1].split()[0] if "}" in line else line.split()[1]
        try:
            value = float(value_text)
        except ValueError:
            continue
        if math.isfinite(value):
            out[line[:name_end]] = out.get(line[:name_end], 0.0) + value
    return out
