"""NVML clock-event ("throttle") reasons: bit values and their names.

The bit values are NVML's ``nvmlClocksEventReason*`` constants (``nvml.h``; the older
``nvmlClocksThrottleReason*`` names carry the same bits). They are copied here so that
decoding works without pynvml installed (SimGpu, analysis of stored telemetry).
"""

from __future__ import annotations

# Name -> bit, in NVML's bit order (the order decode_reasons() returns names in).
REASON_BITS: dict[str, int] = {
    "gpu_idle": 0x1,
    "applications_clocks_setting": 0x2,
    "sw_power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sync_boost": 0x10,
    "sw_thermal_slowdown": 0x20,
    "hw_thermal_slowdown": 0x40,
    "hw_power_brake_slowdown": 0x80,
    "display_clock_setting": 0x100,
    # Only in the deprecated ThrottleReasons list of newer headers; kept so a driver that
    # sets them is decoded rather than reported as unknown.
    "board_limit": 0x200,
    "reliability": 0x400,
}

GPU_IDLE = REASON_BITS["gpu_idle"]

# Reasons that hold the clock *below* what was asked for because of power or heat: a
# readback under the locked clock with one of these set is the power cap at work, not a
# failed lock.
THROTTLE_MASK = (
    REASON_BITS["sw_power_cap"]
    | REASON_BITS["hw_slowdown"]
    | REASON_BITS["sw_thermal_slowdown"]
    | REASON_BITS["hw_thermal_slowdown"]
    | REASON_BITS["hw_power_brake_slowdown"]
    | REASON_BITS["board_limit"]
    | REASON_BITS["reliability"]
)


def decode_reasons(mask: int) -> list[str]:
    """Names of the reasons set in ``mask``; unknown bits become ``unknown_0x...``."""
    mask = int(mask)
    if mask < 0:
        raise ValueError(f"clock-event reason mask must be >= 0, got {mask}")
    names = [name for name, bit in REASON_BITS.items() if mask & bit]
    known = 0
    for bit in REASON_BITS.values():
        known |= bit
    rest = mask & ~known
    bit = 1
    while rest:
        if rest & bit:
            names.append(f"unknown_{bit:#x}")
            rest &= ~bit
        bit <<= 1
    return names


def encode_reasons(names: list[str] | tuple[str, ...]) -> int:
    """Inverse of decode_reasons for known names (used by the simulator and tests)."""
    mask = 0
    for name in names:
        try:
            mask |= REASON_BITS[name]
        except KeyError:
            raise ValueError(f"unknown clock-event reason {name!r}") from None
    return mask
