"""The read-only guard: ``GREENLLM_GPU_READ_ONLY=1`` refuses every NVML setter.

Kept apart from ``nvml`` so that code deciding whether it may pin (doctor, the device
scripts' checks) does not need pynvml's wrapper to ask.
"""

from __future__ import annotations

import os

from greenllm.errors import ClockPermissionError

READ_ONLY_ENV = "GREENLLM_GPU_READ_ONLY"


def read_only() -> bool:
    """``GREENLLM_GPU_READ_ONLY=1``: never call an NVML setter, whatever the config says.

    A guard for shared cards whose settings must not change (e.g. a lent machine):
    pin mode then reports "not permitted" and falls back to, or asks for, observe mode.
    """
    return os.environ.get(READ_ONLY_ENV, "") not in ("", "0")


def refuse_if_read_only(what: str, index: int) -> None:
    """Raise ``ClockPermissionError`` for setter ``what`` on GPU ``index`` when read-only."""
    if read_only():
        raise ClockPermissionError(f"{what} on GPU {index} refused: {READ_ONLY_ENV} is set")
