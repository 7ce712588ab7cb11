"""Open a ``Gpu`` by backend name: the one place that knows both implementations."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from greenllm.errors import GpuError
from greenllm.gpu.base import Gpu
from greenllm.gpu.selection import FROM_ENV, resolve_gpus

if TYPE_CHECKING:
    from greenllm.gpu.sim import SimGpuSpec

BACKENDS = ("nvml", "sim")


def open_gpus(
    backend: str,
    indices: Sequence[int | str] | None = None,
    sim_state_path: str | os.PathLike[str] | None = None,
    *,
    cuda_visible_devices: str | None | object = FROM_ENV,
    sim_count: int | None = None,
    clock_permitted: bool | None = None,
    settle_s: float | None = None,
    spec: SimGpuSpec | None = None,
) -> Gpu:
    """The GPUs of one engine instance.

    ``nvml``: real GPUs; ``indices`` are selectors mapped through CUDA_VISIBLE_DEVICES
    (``greenllm.gpu.selection``). ``sim``: the simulated GPUs of ``sim_state_path``;
    selectors are simulated indices or UUIDs, CUDA_VISIBLE_DEVICES does not apply. If any
    of ``sim_count``, ``clock_permitted``, ``settle_s``, ``spec`` is given, a fresh state
    file is created first (``sim_count`` defaults to max(indices) + 1; the rest to
    ``SimGpu.create``'s defaults); otherwise the file must exist.
    """
    if backend == "nvml":
        from greenllm.gpu.nvml import NvmlGpu

        return NvmlGpu(indices, cuda_visible_devices=cuda_visible_devices)
    if backend == "sim":
        from greenllm.gpu.sim import SimGpu, SimGpuSpec

        if sim_state_path is None:
            raise GpuError("the sim GPU backend needs a state file (sim_state_path)")
        if any(v is not None for v in (sim_count, clock_permitted, settle_s, spec)):
            count = sim_count
            if count is None:
                ints = [int(i) for i in indices or [] if isinstance(i, int) or str(i).isdigit()]
                count = max(ints) + 1 if ints else 1
            SimGpu.create(
                sim_state_path,
                count,
                spec if spec is not None else SimGpuSpec.h100_sxm(),
                clock_permitted=True if clock_permitted is None else bool(clock_permitted),
                settle_s=0.05 if settle_s is None else float(settle_s),
            ).close()
        if not indices:
            return SimGpu.open(sim_state_path)
        everything = SimGpu.open(sim_state_path)
        try:
            uuids = [everything.uuid(i) for i in range(everything.count)]
        finally:
            everything.close()
        chosen = resolve_gpus(indices, None, physical_uuids=uuids)
        return SimGpu.open(sim_state_path, chosen)
    raise GpuError(f"unknown GPU backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def open_by_uuid(reopen_args: Mapping[str, object], uuids: Sequence[str]) -> Gpu:
    """Reopen the GPUs named by ``uuids`` from a ``Gpu.reopen_args()`` record (clock
    markers), ignoring CUDA_VISIBLE_DEVICES: a marker names physical GPUs."""
    backend = str(reopen_args.get("backend"))
    if backend == "nvml":
        from greenllm.gpu.nvml import NvmlGpu

        return NvmlGpu(list(uuids), cuda_visible_devices=None)
    if backend == "sim":
        path = reopen_args.get("sim_state_path")
        if not path:
            raise GpuError("clock marker of a simulated GPU has no state file path")
        return open_gpus("sim", list(uuids), str(path))
    raise GpuError(f"clock marker names an unknown GPU backend {backend!r}")
