"""Which physical GPUs (NVML indices) a run measures, consistent with CUDA_VISIBLE_DEVICES.

NVML always numbers GPUs physically (PCI bus order); CUDA numbers only the GPUs listed in
``CUDA_VISIBLE_DEVICES``, in the listed order. The inference server sees CUDA's view, so
a user's selector ``0`` means "the server's GPU 0", i.e. the first entry of
``CUDA_VISIBLE_DEVICES`` when it is set. The mapping:

* ``CUDA_VISIBLE_DEVICES`` unset: visible = all NVML GPUs, in NVML order.
* set: each comma-separated entry is an NVML index (``2``), a GPU UUID (``GPU-8932f937-...``,
  or a unique prefix of one, as CUDA allows; the ``GPU-`` prefix may be left out) or a MIG
  UUID (``MIG-...``: its parent GPU is measured, since energy counters are per physical
  GPU). As in CUDA, parsing stops at the first entry that is not valid (e.g. ``-1``);
  an empty value means no GPU is visible.
* selectors: ``None``/empty = every visible GPU; an int (or digit string) = position in
  the visible list; a UUID (or unique prefix) = that GPU, which must be visible.

Caveat: without ``CUDA_VISIBLE_DEVICES``, CUDA's own order is "fastest first" unless
``CUDA_DEVICE_ORDER=PCI_BUS_ID``; on a machine of identical GPUs the two orders agree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from greenllm.errors import GpuError

# Sentinel: read CUDA_VISIBLE_DEVICES from the environment at call time (not import time).
FROM_ENV = object()


def resolve_gpus(
    selectors: Sequence[int | str] | None,
    cuda_visible_devices: str | None | object = FROM_ENV,
    *,
    physical_uuids: Sequence[str],
    mig_parent_index: Callable[[str], int] | None = None,
) -> list[int]:
    """Physical NVML indices for ``selectors`` (see the module doc for the mapping).

    ``physical_uuids[i]`` is the UUID of NVML GPU ``i``. ``mig_parent_index`` maps a MIG
    UUID to its parent's NVML index (NvmlGpu supplies it; without it MIG entries fail).
    """
    if cuda_visible_devices is FROM_ENV:
        cuda_visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    visible = _visible_indices(cuda_visible_devices, physical_uuids, mig_parent_index)  # type: ignore[arg-type]
    where = (
        f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r}"
        if cuda_visible_devices is not None
        else f"{len(physical_uuids)} GPU(s) found"
    )
    if not selectors:
        if not visible:
            raise GpuError(f"no GPU is visible ({where})")
        return visible
    chosen: list[int] = []
    for sel in selectors:
        if isinstance(sel, bool):
            raise GpuError(f"GPU selector {sel!r} is neither an index nor a UUID")
        if isinstance(sel, int) or (isinstance(sel, str) and sel.strip().isdigit()):
            pos = int(sel)
            if not 0 <= pos < len(visible):
                raise GpuError(f"GPU {pos} does not exist: {len(visible)} visible ({where})")
            index = visible[pos]
        elif isinstance(sel, str) and sel.strip():
            index = _index_of_uuid(sel.strip(), physical_uuids, mig_parent_index)
            if index is None:
                raise GpuError(f"no GPU has UUID {sel!r} ({where})")
            if index not in visible:
                raise GpuError(f"GPU {sel} is not visible ({where})")
        else:
            raise GpuError(f"GPU selector {sel!r} is neither an index nor a UUID")
        if index in chosen:
            raise GpuError(f"GPU {sel!r} is selected twice")
        chosen.append(index)
    return chosen


def parse_selectors(text: str | None) -> list[int | str] | None:
    """``"0,1"`` / ``"GPU-ab12,1"`` (CLI form) -> selectors; empty -> None (all visible)."""
    if text is None or not text.strip():
        return None
    out: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise GpuError(f"empty entry in GPU list {text!r}")
        out.append(int(part) if part.isdigit() else part)
    return out


def _visible_indices(
    cvd: str | None,
    physical_uuids: Sequence[str],
    mig_parent_index: Callable[[str], int] | None,
) -> list[int]:
    if cvd is None:
        return list(range(len(physical_uuids)))
    visible: list[int] = []
    for entry in cvd.split(","):
        entry = entry.strip()
        if entry.isdigit():
            index: int | None = int(entry)
            if index >= len(physical_uuids):
                break  # CUDA: an invalid entry hides it and everything after it
        elif entry:
            index = _index_of_uuid(entry, physical_uuids, mig_parent_index)
            if index is None:
                break
        else:
            break
        if index not in visible:
            visible.append(index)
    return visible


def _index_of_uuid(
    text: str,
    physical_uuids: Sequence[str],
    mig_parent_index: Callable[[str], int] | None,
) -> int | None:
    if text.upper().startswith("MIG-"):
        if mig_parent_index is None:
            raise GpuError(f"MIG device {text} cannot be mapped to its GPU without NVML")
        return mig_parent_index(text)
    want = text.lower()
    if not want.startswith("gpu-"):
        want = "gpu-" + want
    matches = [i for i, uuid in enumerate(physical_uuids) if uuid.lower().startswith(want)]
    if len(matches) > 1:
        raise GpuError(f"GPU UUID prefix {text!r} matches {len(matches)} GPUs; give more digits")
    return matches[0] if matches else None
