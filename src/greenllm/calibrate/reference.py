"""Read a reference dataset of measured cells (e.g. reports/reference/h100-2026-11-25/).

A reference set is a folder of ``greenllm measure`` output folders, one per engine
instance (``<prefix>_<instance_id>/instance.json`` and ``cells/<clock>/<workload>/
summary.json``). For each cell this module collects what the simulator needs to replay
it: the model shape, max batch and token budget, the workload, every load point's
repeats with the exact arrival settings (rate, request count, seed) and the measured
metrics, plus the SLO and the measured max throughput under it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from greenllm.analysis.cells import load_summary
from greenllm.errors import ConfigError
from greenllm.load.shapes import SHAPES
from greenllm.sim.model_shape import ModelShape

# vLLM's default token budget for the OpenAI server on H100-class GPUs (vLLM v1).
DEFAULT_MAX_NUM_BATCHED_TOKENS = 8192


@dataclass(frozen=True)
class RefRepeat:
    """One measured repeat of a load point."""

    repeat: int
    rate_rps: float
    n_requests: int
    seed: int  # the arrival seed greenllm measure used (load.seed + 1000 (repeat+1) + i)
    ttft_p50_s: float | None
    tbt_p50_s: float | None
    tpot_p50_s: float | None
    power_mean_w: float | None
    j_per_token: float | None


@dataclass(frozen=True)
class RefPoint:
    name: str  # low | medium | high
    repeats: tuple[RefRepeat, ...]


@dataclass(frozen=True)
class RefSearch:
    """How the cell's max-throughput probes were sized, and what they found."""

    rps: float | None
    lower_rps: float | None
    upper_rps: float | None
    requests_per_probe: int
    probe_min_duration_s: float
    probe_max_duration_s: float


@dataclass(frozen=True)
class RefCell:
    source: str  # the instance folder's name, e.g. h100_llama-1b_tp1_b64
    instance_id: str
    model: str
    shape: ModelShape
    tp: int
    max_batch: int
    max_num_batched_tokens: int
    workload: str
    input_tokens: int
    output_tokens: int
    clock_p50_mhz: float | None
    slo_ttft_s: float | None
    slo_tbt_s: float | None
    slo_percentile: float
    arrival: str
    arrival_cv: float
    ramp_fraction: float
    load_seed: int
    search: RefSearch
    points: tuple[RefPoint, ...]
    engine_version: str | None
    gpu_name: str | None
    reference_set: str = ""  # the set folder's name, e.g. h100-2026-11-25
    exact_rate: bool = False  # load.exact_rate of the run (absent before 2026-12-07: False)

    @property
    def label(self) -> str:
        return f"{self.source}/{self.workload}"

    @property
    def instance_key(self) -> str:
        """``<set>/<instance folder>``: unique across pooled sets."""
        return f"{self.reference_set}/{self.source}" if self.reference_set else self.source


def load_reference(root: str | Path) -> list[RefCell]:
    """Every usable cell under ``root`` (ok or partial, with load points), sorted."""
    base = Path(root)
    if not base.is_dir():
        raise ConfigError(f"reference folder not found: {base}")
    files = sorted(base.rglob("summary.json"))
    cells = [replace(c, reference_set=base.resolve().name)
             for c in (_read_cell(f) for f in files) if c is not None]
    if not cells:
        raise ConfigError(f"no usable cell summaries (cells/*/*/summary.json) under {base}")
    return sorted(cells, key=lambda c: (c.source, c.workload))


def _read_cell(path: Path) -> RefCell | None:
    summary = load_summary(path)
    if summary["status"] not in ("ok", "partial") or not summary.get("load_points"):
        return None
    instance_dir = path.parents[3]  # <instance>/cells/<clock>/<workload>/summary.json
    config = _instance_config(instance_dir)
    inst = summary["instance"]
    model = str(inst["model"])
    shape = _shape(model, config)
    load = config.get("load") or {}
    search_cfg = config.get("search") or {}
    engine = config.get("engine") or {}
    points_order = [str(p) for p in (load.get("points") or ["low", "medium", "high"])]
    load_seed = int(load.get("seed") or 0)
    by_name: dict[str, list[RefRepeat]] = {}
    for lp in summary["load_points"]:
        name = str(lp.get("name"))
        if lp.get("rate_rps") is None or not lp.get("n_requests"):
            continue
        i = points_order.index(name) if name in points_order else len(points_order)
        repeat = int(lp.get("repeat") or 0)
        energy = lp.get("energy") or {}
        by_name.setdefault(name, []).append(RefRepeat(
            repeat=repeat,
            rate_rps=float(lp["rate_rps"]),
            n_requests=int(lp["n_requests"]),
            seed=load_seed + 1000 * (repeat + 1) + i,
            ttft_p50_s=_p50(lp.get("ttft_s")),
            tbt_p50_s=_p50(lp.get("tbt_s")),
            tpot_p50_s=_p50(lp.get("tpot_s")),
            power_mean_w=_num(energy.get("power_mean_w")),
            j_per_token=_num(energy.get("energy_per_output_token_j")),
        ))
    if not by_name:
        return None
    order = {n: k for k, n in enumerate(points_order)}
    points = tuple(RefPoint(n, tuple(sorted(r, key=lambda x: x.repeat)))
                   for n, r in sorted(by_name.items(), key=lambda kv: order.get(kv[0], 99)))
    mt = summary.get("max_throughput") or {}
    slo = summary.get("slo") or {}
    prov = summary.get("provenance") or {}
    gpus = prov.get("gpus") or [{}]
    wl = summary["workload"]
    return RefCell(
        source=instance_dir.name,
        instance_id=str(inst["id"]),
        model=model,
        shape=shape,
        tp=int(inst["tp"]),
        max_batch=int(inst["max_batch"]),
        max_num_batched_tokens=int(engine.get("max_num_batched_tokens")
                                   or DEFAULT_MAX_NUM_BATCHED_TOKENS),
        workload=str(wl["id"]),
        input_tokens=int(wl["input_tokens"]),
        output_tokens=int(wl["output_tokens"]),
        clock_p50_mhz=_num(((summary.get("clock") or {}).get("achieved_mhz") or {}).get("p50")),
        slo_ttft_s=_num(slo.get("ttft_s")),
        slo_tbt_s=_num(slo.get("tbt_s")),
        slo_percentile=float(slo.get("percentile") or 90.0),
        arrival=str(load.get("arrival") or "poisson"),
        arrival_cv=float(load.get("cv") or 1.0),
        exact_rate=bool(load.get("exact_rate") or False),
        ramp_fraction=float(load.get("ramp_fraction", 0.1)),
        load_seed=load_seed,
        search=RefSearch(
            rps=_num(mt.get("rps")),
            lower_rps=_num(mt.get("lower_rps")),
            upper_rps=_num(mt.get("upper_rps")),
            requests_per_probe=int(search_cfg.get("requests_per_probe") or 150),
            probe_min_duration_s=float(search_cfg.get("probe_min_duration_s") or 10.0),
            probe_max_duration_s=float(search_cfg.get("probe_max_duration_s") or 90.0),
        ),
        points=points,
        engine_version=prov.get("engine_version"),
        gpu_name=gpus[0].get("name") if gpus else None,
    )


def _instance_config(instance_dir: Path) -> dict[str, Any]:
    path = instance_dir / "instance.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: a reference instance needs its instance.json "
                          "(load seed, search and engine settings)") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from None
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise ConfigError(f"{path} has no 'config' object")
    return config


def _shape(model: str, config: dict[str, Any]) -> ModelShape:
    """The model shape from the run's config, else greenllm's built-in shapes."""
    cfg = ((config.get("model") or {}).get("shape")) or SHAPES.get(model)
    if not cfg:
        raise ConfigError(f"no shape for model {model!r}: not in the run's config nor in "
                          f"greenllm.load.shapes ({', '.join(SHAPES)})")
    heads = int(cfg["num_attention_heads"])
    shape = ModelShape(
        hidden_size=int(cfg["hidden_size"]),
        num_layers=int(cfg["num_hidden_layers"]),
        num_heads=heads,
        num_kv_heads=int(cfg.get("num_key_value_heads") or heads),
        intermediate_size=int(cfg["intermediate_size"]),
        vocab_size=int(cfg["vocab_size"]),
        head_dim=int(cfg.get("head_dim") or int(cfg["hidden_size"]) // heads),
        name=model,
    )
    shape.validate()
    return shape


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _p50(block: Any) -> float | None:
    return _num(block.get("p50")) if isinstance(block, dict) else None
