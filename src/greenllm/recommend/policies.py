"""Clock policies a trace replay applies while it runs (``workload.trace.policy``).

A policy only decides; ``greenllm.measure.trace_run`` applies its decisions through the
pinning context of ``greenllm.gpu`` (every change verified, the GPUs restored on every
exit path). Three policies, the treatments of docs/planner.md:

* ``FixedClock``: one clock for the whole replay;
* ``ScheduleClock``: the clock of the planner's schedule for the trace window the replay
  is in (``greenllm recommend`` writes it);
* ``SloFeedback``: lower the clock one step while the recent p90 TTFT and TBT have
  headroom under the SLO, raise it one step when either exceeds it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from greenllm.errors import ConfigError

POLICY_KINDS = ("fixed", "schedule", "feedback")


@dataclass
class FixedClock:
    mhz: int
    name: str = "fixed"

    def initial_mhz(self) -> int:
        return int(self.mhz)

    def decide(self, replay_s: float, current_mhz: int) -> int:
        return int(self.mhz)

    def observe(self, ttft_s: float, tbt_s: float) -> None:
        pass


@dataclass
class ScheduleClock:
    """Clock per trace window: ``starts_s[i]`` (trace seconds) starts window i at ``mhz[i]``."""

    starts_s: Sequence[float]
    mhz: Sequence[int]
    trace_t0_s: float  # trace time of the replay's first request
    time_scale: float
    name: str = "schedule"

    def __post_init__(self) -> None:
        if not self.starts_s or len(self.starts_s) != len(self.mhz):
            raise ConfigError("a clock schedule needs one clock per window, at least one window")
        if any(b < a for a, b in zip(self.starts_s, self.starts_s[1:], strict=False)):
            raise ConfigError("clock schedule windows must be in time order")

    def trace_time(self, replay_s: float) -> float:
        return self.trace_t0_s + replay_s * self.time_scale

    def initial_mhz(self) -> int:
        return self.decide(0.0, 0)

    def decide(self, replay_s: float, current_mhz: int) -> int:
        i = int(np.searchsorted(np.asarray(self.starts_s), self.trace_time(replay_s), "right")) - 1
        return int(self.mhz[max(i, 0)])

    def observe(self, ttft_s: float, tbt_s: float) -> None:
        pass


class SloFeedback:
    """Step the clock down while latency has headroom, up when the SLO is missed."""

    name = "feedback"

    def __init__(self, clocks_mhz: Sequence[int], slo_ttft_s: float, slo_tbt_s: float, *,
                 headroom: float = 0.6, percentile: float = 90.0, window_requests: int = 50,
                 min_requests: int = 10):
        if not clocks_mhz:
            raise ConfigError("the feedback policy needs at least one clock")
        if not 0 < headroom < 1:
            raise ConfigError(f"feedback headroom must be in (0, 1), got {headroom!r}")
        if not (slo_ttft_s > 0 and slo_tbt_s > 0):
            raise ConfigError("the feedback policy needs a positive TTFT and TBT SLO")
        self.clocks = sorted(int(c) for c in set(clocks_mhz))
        self.slo_ttft_s, self.slo_tbt_s = float(slo_ttft_s), float(slo_tbt_s)
        self.headroom, self.percentile = float(headroom), float(percentile)
        self.min_requests = int(min_requests)
        self._ttft: deque[float] = deque(maxlen=int(window_requests))
        self._tbt: deque[float] = deque(maxlen=int(window_requests))
        self._fresh = 0

    def initial_mhz(self) -> int:
        return self.clocks[-1]  # start safe: the highest clock

    def observe(self, ttft_s: float, tbt_s: float) -> None:
        if math.isfinite(ttft_s):
            self._ttft.append(ttft_s)
            self._tbt.append(tbt_s if math.isfinite(tbt_s) else 0.0)
            self._fresh += 1

    def decide(self, replay_s: float, current_mhz: int) -> int:
        if self._fresh < self.min_requests or len(self._ttft) < self.min_requests:
            return current_mhz  # too few new requests to judge the current clock
        ttft = float(np.percentile(self._ttft, self.percentile))
        tbt = float(np.percentile(self._tbt, self.percentile))
        i = self.clocks.index(min(self.clocks, key=lambda c: abs(c - current_mhz)))
        ratio = max(ttft / self.slo_ttft_s, tbt / self.slo_tbt_s)
        if ratio > 1.0 and i + 1 < len(self.clocks):
            i += 1
        elif ratio < self.headroom and i > 0:
            i -= 1
        else:
            return current_mhz
        self._fresh = 0  # judge the new clock on requests served at it
        return self.clocks[i]


def read_schedule(path: str | Path) -> tuple[list[float], list[int]]:
    """(window starts in trace seconds, clock) from a ``greenllm recommend`` schedule CSV."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"clock schedule {p}: no such file (write it with greenllm recommend)")
    frame = pd.read_csv(p)
    missing = [c for c in ("window_start_s", "clock_mhz") if c not in frame.columns]
    if missing:
        raise ConfigError(f"clock schedule {p}: missing column(s) {', '.join(missing)}")
    if frame.empty or frame["clock_mhz"].isna().any():
        raise ConfigError(f"clock schedule {p}: empty, or a window without a clock")
    frame = frame.sort_values("window_start_s")
    return frame["window_start_s"].astype(float).tolist(), frame["clock_mhz"].astype(int).tolist()
