"""The GPU settings a run sweeps: SM clock, power limit, memory clock, and their labels.

Pure functions on the ``clocks`` mapping (Hydra group ``clocks`` or the workflow config's
``clocks`` key), shared by ``greenllm measure`` and the Snakemake grid (``greenllm.plan``)
so both name the same cells:

* ``mhz``: SM clocks to lock (today's axis), label ``f<MHz>``;
* ``power_limit_w``: power limits to set, SM clock left to the driver, label ``p<W>``;
* ``memory_mhz``: memory clocks to lock, SM clock left to the driver, label ``m<MHz>``;
* ``cross: true``: every combination instead (``f1410_p450_m1593``; an axis left empty
  is not part of the product).

Without ``cross`` each axis is swept against the driver default of the others, so a run
that lists only ``mhz`` has exactly today's cells. Observe mode sets nothing: one cell,
``native``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KnobSetting:
    """One point of the sweep; None: the driver's default for that knob."""

    mhz: int | None = None
    power_limit_w: float | None = None
    memory_mhz: int | None = None

    @property
    def label(self) -> str:
        parts = []
        if self.mhz is not None:
            parts.append(f"f{int(self.mhz)}")
        if self.power_limit_w is not None:
            parts.append(f"p{float(self.power_limit_w):g}")
        if self.memory_mhz is not None:
            parts.append(f"m{int(self.memory_mhz)}")
        return "_".join(parts) or "native"

    @property
    def axis(self) -> str:
        """Which knob this setting varies: sm_clock, power_limit, memory_clock, a
        '+'-joined mix for crossed settings, or native."""
        names = [n for n, v in (("sm_clock", self.mhz), ("power_limit", self.power_limit_w),
                                ("memory_clock", self.memory_mhz)) if v is not None]
        return "+".join(names) or "native"


def _get(clocks: Any, key: str) -> list[Any]:
    value = clocks.get(key) if isinstance(clocks, Mapping) else getattr(clocks, key, None)
    return list(value or [])


def knob_settings(clocks: Any) -> list[KnobSetting]:
    """Every setting ``clocks`` asks for, in sweep order (SM clocks first)."""
    mode = clocks.get("mode") if isinstance(clocks, Mapping) else clocks.mode
    if mode == "observe":
        return [KnobSetting()]
    mhz = [int(m) for m in _get(clocks, "mhz")]
    watts = [float(w) for w in _get(clocks, "power_limit_w")]
    mem = [int(m) for m in _get(clocks, "memory_mhz")]
    cross = bool(clocks.get("cross", False) if isinstance(clocks, Mapping)
                 else getattr(clocks, "cross", False))
    if cross:
        axes = [a or [None] for a in (mhz, watts, mem)]
        return [KnobSetting(f, p, m) for f, p, m in itertools.product(*axes)]
    return ([KnobSetting(mhz=f) for f in mhz] + [KnobSetting(power_limit_w=p) for p in watts]
            + [KnobSetting(memory_mhz=m) for m in mem])


def labels(clocks: Any) -> tuple[str, ...]:
    return tuple(s.label for s in knob_settings(clocks))


def any_setting(clocks: Any) -> bool:
    """Whether pin mode has anything to set (an SM clock, power limit or memory clock)."""
    return any(_get(clocks, k) for k in ("mhz", "power_limit_w", "memory_mhz"))
