"""The GPU-hour estimate of a plan (an upper bound from the search/probe budget and model size)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenllm.plan.config_files import MEASURE_CONFIG_RELPATH, load_yaml
from greenllm.plan.grid import Instance, Plan

# Used when neither the preset nor config/measure/<group>/<profile>.yaml sets a key
# (the measure schema's own defaults, src/greenllm/measure/config.py).
ESTIMATE_FALLBACKS: dict[str, dict[str, float]] = {
    "search": {"max_probes": 8, "probe_max_duration_s": 60.0, "time_budget_s": 900.0},
    "load": {"max_duration_s": 120.0, "warmup_requests": 8, "repeats": 1},
    "slo": {"baseline_requests": 5},
}
# H100 SXM, bf16: effective HBM bandwidth (~60% of 3.35 TB/s) bounds a decode step,
# effective tensor throughput (~40% of 989 TFLOP/s) a prefill; 1 ms step overhead.
_HBM_BYTES_PER_S = 2.0e12
_FLOPS_PER_S = 4.0e14
_STEP_OVERHEAD_S = 1.0e-3
_CLOCK_SETTLE_S = 5.0
_ENGINE_START_BASE_S = 90.0
_ENGINE_START_PER_BPARAM_S = 1.5
ESTIMATE_FORMULA = (
    "GPU-h = sum over instances of TP x (load.engine_starts x start + baselines + cells) / "
    "3600 (an upper bound: every probe and load point at its max duration); "
    f"start = {_ENGINE_START_BASE_S:.0f} s + {_ENGINE_START_PER_BPARAM_S} s per 1e9 params; "
    "baselines = workloads x slo.baseline_requests x request; "
    "cell = clock settle 5 s + min(search.max_probes x (probe_max_duration_s + request), "
    "search.time_budget_s) + load points x load.repeats x (load.max_duration_s + (1 + warmup_requests) x "
    "request); request = prefill + output_tokens x TBT, prefill = 2 x params x input_tokens "
    "/ (TP x 4e14 FLOP/s), TBT = 1 ms + 2 bytes x params / (TP x 2e12 B/s)"
)


def model_params(shape: Mapping[str, Any]) -> float:
    """Parameter count of a Llama shape (attention with GQA, SwiGLU MLP, untied embeddings)."""
    h = shape["hidden_size"]
    kv_frac = shape["num_key_value_heads"] / shape["num_attention_heads"]
    per_layer = 2 * h * h + 2 * h * h * kv_frac + 3 * h * shape["intermediate_size"]
    return shape["num_hidden_layers"] * per_layer + 2 * shape["vocab_size"] * h


def load_measure_groups(root: str | os.PathLike[str], cfg: Mapping[str, Any]) -> dict[str, dict]:
    """The Hydra group files the preset selects (``config/measure/<group>/<profile>.yaml``),
    merged under the preset's own keys: what a measure run will use, for the estimate."""
    out: dict[str, dict] = {}
    for group in ("search", "load", "slo"):
        settings = dict(cfg.get(group, {}))
        path = Path(root) / MEASURE_CONFIG_RELPATH / group / f"{settings.get('profile', '')}.yaml"
        base = load_yaml(path, "measure group") if path.is_file() else {}
        out[group] = {**ESTIMATE_FALLBACKS.get(group, {}), **base, **settings}
    return out


@dataclass(frozen=True)
class InstanceEstimate:
    instance_id: str
    gpus: int
    start_s: float
    baselines_s: float
    cells_s: float
    starts: int = 1  # engine starts (load.engine_starts)

    @property
    def total_s(self) -> float:
        return self.start_s + self.baselines_s + self.cells_s

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.total_s / 3600.0


def estimate_instance(
    inst: Instance, shape: Mapping[str, Any], groups: Mapping[str, Mapping[str, Any]]
) -> InstanceEstimate:
    """Upper-bound seconds for one instance (see ``ESTIMATE_FORMULA``)."""
    from greenllm.load.workloads import parse_workload

    params = model_params(shape)
    tbt_s = _STEP_OVERHEAD_S + 2.0 * params / (inst.tp * _HBM_BYTES_PER_S)
    search, load, slo = groups["search"], groups["load"], groups["slo"]

    def request_s(wid: str) -> float:
        w = parse_workload(wid)
        prefill_s = 2.0 * params * w.input_tokens / (inst.tp * _FLOPS_PER_S)
        return prefill_s + w.output_tokens * tbt_s

    def cell_s(wid: str) -> float:
        req = request_s(wid)
        search_s = search["max_probes"] * (search["probe_max_duration_s"] + req)
        if search.get("time_budget_s"):
            search_s = min(search_s, float(search["time_budget_s"]))
        per_point = load["max_duration_s"] + (1 + load.get("warmup_requests", 0)) * req
        return _CLOCK_SETTLE_S + search_s + len(inst.loads) * _repeats(load) * per_point

    starts = engine_starts(load)
    start_s = engine_start_s(params) * starts
    baselines_s = sum(slo["baseline_requests"] * request_s(w) for w in inst.workloads)
    cells_s = sum(cell_s(c.workload) for c in inst.cells)
    return InstanceEstimate(inst.id, inst.gpus, start_s, baselines_s, cells_s, starts)


def engine_start_s(params: float) -> float:
    """Seconds one engine start is assumed to hold the GPUs (ESTIMATE_FORMULA's start)."""
    return _ENGINE_START_BASE_S + _ENGINE_START_PER_BPARAM_S * params / 1e9


def engine_starts(load: Mapping[str, Any]) -> int:
    """Engine starts per instance: ``load.engine_starts`` (the repeats spread over k
    starts), 1 when unset."""
    return int(load.get("engine_starts") or 1)


def _repeats(load: Mapping[str, Any]) -> int:
    """Fixed ``load.repeats``, or the adaptive policy's cap (the upper bound)."""
    fixed = load.get("repeats", 1)
    return int(fixed) if fixed is not None else int(load.get("max_repeats", 8))


def estimate(plan: Plan, root: str | os.PathLike[str]) -> list[InstanceEstimate] | None:
    """Per-instance estimates, or None when the model's shape is unknown."""
    from greenllm.load.shapes import SHAPES

    shape = SHAPES.get(plan.model_name)
    if shape is None:
        return None
    groups = load_measure_groups(root, plan.config)
    return [estimate_instance(inst, shape, groups) for inst in plan.instances]


def runtime_minutes(est: InstanceEstimate) -> int:
    """A wall-clock limit for a measure job (Slurm ``runtime``): the bound plus 25 %."""
    return math.ceil(est.total_s * 1.25 / 60.0) + 10
