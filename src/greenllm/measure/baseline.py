"""SLO baseline of a workload: its requests sent alone (no batching, no queueing).

Paper §III: "For latency SLOs, we choose the TTFT and TBT achieved when running the
request alone". The SLO is ``slo.scale`` times the baseline at ``slo.percentile``.
The baseline is stored per (instance, workload) and reused by every clock's cells.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from greenllm import atomic
from greenllm.engine.base import Engine
from greenllm.load import Workload, summarize
from greenllm.measure.config import MeasureCfg
from greenllm.measure.points import PointSettings
from greenllm.search import Slo, baseline_from

# The first request a client sends alone pays one-off costs (lazy imports, a new
# connection) worth milliseconds: it is sent and left out (greenllm.search.run_baseline).
BASELINE_WARMUP_REQUESTS = 1


def _paths(out: Path, w: Workload) -> tuple[Path, Path]:
    d = out / "baseline"
    return d / f"{w.id}.json", d / f"{w.id}.requests.parquet"


def _with_slo(record: dict[str, Any]) -> dict[str, Any]:
    s = record["slo"]
    record["slo_obj"] = Slo(ttft_s=s["ttft_s"], tbt_s=s["tbt_s"], percentile=s["percentile"],
                            scale=s["scale"], baseline_ttft_s=s["baseline"]["ttft_s"],
                            baseline_tbt_s=s["baseline"]["tbt_s"])
    return record


def load_baseline(cfg: MeasureCfg, w: Workload, out: Path) -> dict[str, Any] | None:
    """A stored baseline, if it was measured with the same SLO settings."""
    path, _ = _paths(out, w)
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    s = record.get("slo", {})
    if s.get("scale") != float(cfg.slo.scale) or s.get("percentile") != float(cfg.slo.percentile):
        return None  # SLO settings changed: the old baseline does not define this SLO
    return _with_slo(record)


def measure_baseline(cfg: MeasureCfg, settings: PointSettings, engine: Engine, w: Workload,
                     out: Path, *, clock_mhz: int | None) -> dict[str, Any]:
    engine.check_alive()
    # One request at a time, each waiting for the previous one: nothing to batch with.
    frame = engine.send_sequential(w, BASELINE_WARMUP_REQUESTS + int(cfg.slo.baseline_requests),
                                   seed=settings.seed + 50_000, timeout_s=settings.timeout_s)
    frame = frame.iloc[BASELINE_WARMUP_REQUESTS:].reset_index(drop=True)
    engine.check_alive()
    frame.insert(0, "point", "baseline")
    slo = baseline_from(frame, scale=float(cfg.slo.scale), percentile=float(cfg.slo.percentile))
    metrics = summarize(frame, slo=None)
    record = {
        "workload": w.id,
        "clock_mhz": clock_mhz,
        "slo": {"ttft_s": slo.ttft_s, "tbt_s": slo.tbt_s, "percentile": float(cfg.slo.percentile),
                "scale": float(cfg.slo.scale),
                "baseline": {"ttft_s": slo.ttft_s / slo.scale, "tbt_s": slo.tbt_s / slo.scale,
                             "clock_mhz": clock_mhz}},
        "e2e_s": (metrics.get("e2e_s") or {}).get("p50"),
        "metrics": metrics,
    }
    json_path, parquet_path = _paths(out, w)
    atomic.write_parquet(parquet_path, frame)
    atomic.write_json(json_path, record)
    return _with_slo(record)
