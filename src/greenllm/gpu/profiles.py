"""Which greenllm GPU profile (``config/measure/gpu/<profile>.yaml``) a GPU is, by name.

NVML names a card by its product name (``NVIDIA H100 80GB HBM3``, ``NVIDIA H200``); the
profile holds what a measurement needs to know of it (clock range, power limit) and
which simulated GPU stands in for it. ``greenllm doctor`` prints the match, so that a
run on an H200 is not configured as an H100 by default.
"""

from __future__ import annotations

import re

# (pattern on the NVML name, profile). The PCIe and NVL variants have other power limits
# and clocks: they match no profile rather than the SXM one.
_PROFILES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bH100\b(?!.*\b(PCIe|NVL)\b).*\b(80GB HBM3|SXM)"), "h100-sxm"),
    (re.compile(r"\bH200\b(?!.*\b(PCIe|NVL)\b)"), "h200"),
)


def profile_for_gpu_name(name: str) -> str | None:
    """The profile of a GPU named ``name`` by NVML (or SimGpu), None when none fits."""
    for pattern, profile in _PROFILES:
        if pattern.search(name):
            return profile
    return None


def profile_warning(configured: str, gpu_names: list[str]) -> str | None:
    """A warning when the configured ``gpu`` profile is not the cards' own (None if it is)."""
    found = {profile_for_gpu_name(n) for n in gpu_names}
    if found == {configured}:
        return None
    names = ", ".join(sorted(set(gpu_names)))
    if found == {None}:
        return (f"WARNING: no greenllm GPU profile matches {names}; measuring with "
                f"gpu={configured}'s clock range and power limit")
    fitting = ", ".join(sorted(p for p in found if p))
    return (f"WARNING: gpu={configured} but the GPUs are {names} (profile {fitting}): "
            f"pass gpu={fitting}")
