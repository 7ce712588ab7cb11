"""Instances on several GPUs: their energy per GPU, and the environment their workers need.

A TP instance's energy is the sum over its GPUs (``gpu.telemetry.window_energy`` reads
every GPU of the instance); how evenly the GPUs share it is recorded beside it, since a
GPU that draws much more or less than its peers points at an imbalance (or a GPU
outside the instance's work) that the sum would hide.

NVLink multicast stays off for every process vLLM starts (its TP workers included):
the lent multi-GPU machines require it (NCCL_NVLS_ENABLE=0 and the PyTorch / NVSHMEM
equivalents), since a program using multicast can take the host's shared GPUs out of
service. The variables go into the engine's environment, which its workers inherit;
a user's ``engine.env`` can add to them but a value of its own wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NO_MULTICAST_ENV: dict[str, str] = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "NVSHMEM_DISABLE_NVLS": "1",
}


def engine_worker_env(user_env: Mapping[str, Any]) -> dict[str, str]:
    """The no-multicast variables under the user's ``engine.env``."""
    return {**NO_MULTICAST_ENV, **{str(k): str(v) for k, v in user_env.items()}}


def per_gpu_fields(per_gpu_energy_j: Mapping[int, float]) -> dict[str, Any]:
    """``per_gpu_energy_j`` (by GPU index) and its spread: (max - min) / mean."""
    values = [float(v) for v in per_gpu_energy_j.values()]
    mean = sum(values) / len(values) if values else 0.0
    spread = (max(values) - min(values)) / mean if len(values) > 1 and mean > 0 else None
    return {"per_gpu_energy_j": {str(g): float(v) for g, v in per_gpu_energy_j.items()},
            "per_gpu_spread": spread}
