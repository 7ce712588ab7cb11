"""SLO baseline (requests sent alone) and maximum throughput under the SLO."""

from greenllm.search.baseline import (
    measure_slo,
    measure_slo_sync,
    run_baseline,
    run_baseline_sync,
)
from greenllm.search.max_throughput import ProbeResult, SearchResult, find_max_throughput
from greenllm.search.probe import load_probe
from greenllm.search.slo import Slo, SloVerdict, baseline_from, meets_slo, slo_verdict

__all__ = [
    "ProbeResult", "SearchResult", "Slo", "SloVerdict", "baseline_from", "find_max_throughput",
    "load_probe", "measure_slo", "measure_slo_sync", "meets_slo", "run_baseline",
    "run_baseline_sync", "slo_verdict",
]
