"""Typed settings of a trace workload (``workload=trace``) and of the clock policy a
replay applies while it runs (``workload.trace.policy``). Part of ``MeasureCfg``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TraceColumnsCfg:
    """Which CSV column holds what (defaults: the Azure 2023 traces)."""

    timestamp: str = "TIMESTAMP"
    input_tokens: str = "ContextTokens"
    output_tokens: str = "GeneratedTokens"
    timestamp_unit: str = "datetime"  # datetime | s | ms


@dataclass
class PolicyCfg:
    """How the SM clock moves during a replay (pin mode only; docs/planner.md).

    fixed: each of clocks.mhz, one replay each. schedule: the clock of the planner's
    schedule (``schedule_path``, a ``greenllm recommend`` schedule CSV) for the window
    the replay is in. feedback: start at the highest clock, every ``period_s`` lower it by
    ``step_mhz`` while the recent p90 TTFT and TBT stay below ``headroom`` x SLO, raise
    it when either exceeds the SLO."""

    kind: str = "fixed"  # fixed | schedule | feedback
    schedule_path: str | None = None
    period_s: float = 2.0
    headroom: float = 0.6
    step_mhz: int = 200
    min_mhz: int | None = None  # None: the lowest of clocks.mhz
    max_mhz: int | None = None  # None: the highest of clocks.mhz
    window_requests: int = 50  # recent requests the feedback looks at


@dataclass
class TraceCfg:
    path: str | None = None  # None: not a trace workload
    name: str | None = None  # workload id in results; None: the file's stem
    columns: TraceColumnsCfg = field(default_factory=TraceColumnsCfg)
    start_s: float = 0.0  # window start, trace seconds after the first row
    duration_s: float | None = None  # window length in trace seconds; None: to the end
    time_scale: float = 1.0  # trace seconds per replay second (6: one hour in 10 minutes)
    rate_scale: float = 1.0  # thin (<1) or repeat (>1) rows, seeded
    seed: int = 0
    # SLO of a trace: absolute (both set), else slo.scale x a baseline of requests of the
    # trace's lengths at slo_quantile sent alone (as every workload's SLO).
    slo_ttft_s: float | None = None
    slo_tbt_s: float | None = None
    slo_quantile: float = 0.9
    policy: PolicyCfg = field(default_factory=PolicyCfg)
