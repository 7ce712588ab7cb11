"""Typed (structured) Hydra configuration of one measurement run.

The YAML groups under ``config/measure/`` fill these dataclasses; because the schema is
registered with Hydra's ConfigStore and the primary config extends it, a misspelt key
or a value of the wrong type fails at compose time, before any engine starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from greenllm.measure.trace_config import TraceCfg


@dataclass
class ModelShapeCfg:
    hidden_size: int = MISSING
    num_hidden_layers: int = MISSING
    num_attention_heads: int = MISSING
    num_key_value_heads: int = MISSING
    intermediate_size: int = MISSING
    vocab_size: int = 32000
    max_position_embeddings: int = 4096


@dataclass
class ModelCfg:
    name: str = MISSING  # short id used in instance ids, e.g. llama2-70b
    hf_repo: str | None = None  # where its real config/tokenizer/weights live
    path: str | None = None  # local model folder (config.json + tokenizer); built if absent
    load_format: str = "dummy"  # dummy (random weights, shape only) | real
    shape: ModelShapeCfg = field(default_factory=ModelShapeCfg)


@dataclass
class VirtualEngineCfg:
    # Run-to-run jitter of the virtual engine (greenllm.sim.jitter): lognormal sigma of a
    # per-load factor on iteration time, drawn power and request latency (fit to the H100).
    jitter_time: float = 0.0
    jitter_power: float = 0.0
    jitter_latency: float = 0.24


@dataclass
class EngineCfg:
    kind: str = "vllm"  # vllm | sim | virtual (greenllm.engine.kinds)
    host: str = "127.0.0.1"
    port: int | None = None  # None: a free port
    startup_timeout_s: float = 1200.0
    stop_grace_s: float = 30.0
    gpu_memory_utilization: float = 0.90
    max_model_len: int | None = None  # None: longest workload + margin
    max_num_batched_tokens: int | None = None
    enable_prefix_caching: bool = False
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    virtual: VirtualEngineCfg = field(default_factory=VirtualEngineCfg)


@dataclass
class GpuCfg:
    name: str = "h100-sxm"
    max_sm_clock_mhz: int = 1980
    min_sm_clock_mhz: int = 345
    power_limit_w: float = 700.0
    sim_settle_s: float = 0.05  # simulated GPUs: how long a locked clock takes to apply
    # Simulated GPUs: how many the simulated node has (instance.gpus picks among them and
    # is refused beyond them); None: just enough for the GPUs the instance names.
    sim_count: int | None = None
    # simulated GPUs: a node's state file shared by instances side by side (each on its
    # instance.gpus of it); None: a state file of the instance's own
    sim_node_state: str | None = None


@dataclass
class ClocksCfg:
    mode: str = "pin"  # pin | observe
    mhz: list[int] = field(default_factory=lambda: [800, 1000, 1200, 1400, 1600, 1800, 1980])
    # The other knobs (greenllm.sweep_axes): power limits (W) and memory clocks (MHz) to
    # sweep, each against the driver default of the others unless cross=true.
    power_limit_w: list[float] = field(default_factory=list)
    memory_mhz: list[int] = field(default_factory=list)
    cross: bool = False
    settle_timeout_s: float = 5.0
    # When pinning is not permitted (no root): fail (false) or measure in observe mode
    # with a warning recorded in every result (true).
    fallback_to_observe: bool = False
    marker_dir: str | None = None
    sim_clock_permitted: bool = True  # simulated GPUs: behave like root (true) or not


@dataclass
class WorkloadCfg:
    ids: list[str] = field(
        default_factory=lambda: ["S-S", "S-M", "S-L", "M-S", "M-M", "M-L", "L-S", "L-M", "L-L"]
    )
    trace: TraceCfg = field(default_factory=TraceCfg)  # trace.path set: replay it instead


@dataclass
class LoadCfg:
    points: list[str] = field(default_factory=lambda: ["low", "medium", "high"])
    # Named loads as fractions of the cell's max throughput under SLO.
    fractions: dict[str, float] = field(
        default_factory=lambda: {"low": 0.25, "medium": 0.5, "high": 0.9}
    )
    rates_rps: list[float] = field(default_factory=list)  # extra absolute-rate points
    # Each load point is measured this many times (interleaved over the instance's
    # clocks and workloads); figures and claims use the median and a CI over repeats.
    # None (the default): adaptive, until every ci_targets metric's 95 % CI half-width
    # (relative to its median) is met, or max_repeats (src/greenllm/measure/adaptive.py).
    repeats: int | None = None
    ci_targets: dict[str, float] = field(
        default_factory=lambda: {"ttft_p50_s": 0.05, "tbt_p50_s": 0.05,
                                 "energy_per_output_token_j": 0.02})
    max_repeats: int = 5
    # point (default): each load point stops on its own targets, later repeats measure
    # only the open ones; cell: a cell repeats all its points until every target is met
    # (a quiet point waits for the noisiest: docs/campaign.md)
    stop_per: str = "point"
    # The repeats spread over this many engine starts (1: all in one). A vLLM start moves
    # latency by 6-15 % on the lent H100, which an interval over one start's repeats does
    # not cover; k > 1 costs k - 1 more starts per instance (measure/engine_starts.py).
    engine_starts: int = 1
    arrival: str = "poisson"  # poisson | gamma | constant
    cv: float = 1.0  # gamma burstiness (coefficient of variation of inter-arrivals)
    # true (default since 2026-12-07): every probe and load point sends at exactly its
    # nominal rate (the drawn gaps rescaled to their mean, as vllm bench serve does), so
    # the window's random length is no longer most of energy per token's repeat-to-repeat
    # spread; false: the schedule as drawn (docs/campaign.md, "Exact-rate windows")
    exact_rate: bool = True
    requests_per_point: int = 200
    min_duration_s: float = 10.0  # a point sends max(requests, rate*min_duration) requests
    max_duration_s: float = 120.0
    ramp_fraction: float = 0.1  # first part of the arrivals excluded from the energy window
    warmup_requests: int = 8
    request_timeout_s: float = 600.0
    seed: int = 0
    # text (default: the server tokenizes, as for users' clients and vllm bench serve) or
    # token_ids (skips the server's tokenization: TTFT ~9 % lower on the H200, docs/load.md)
    prompt_format: str = "text"
    # true (default): the client's HTTP session honours HTTP(S)_PROXY/NO_PROXY and ~/.netrc,
    # looked up per request after TTFT's clock starts, as vllm bench serve's session does
    # (~1 ms of TTFT: the reference tool's offset, docs/load.md); false skips the lookups.
    trust_env: bool = True


@dataclass
class SloCfg:
    scale: float = 3.0  # SLO = scale x (latency of a request run alone, at the max clock)
    percentile: float = 90.0
    baseline_requests: int = 5


@dataclass
class SearchCfg:
    start_rps: float | None = None  # None: estimated from the baseline latency
    min_rps: float = 0.05
    max_rps: float = 2000.0
    max_probes: int = 8
    rel_tol: float = 0.15
    requests_per_probe: int = 120
    probe_min_duration_s: float = 5.0
    probe_max_duration_s: float = 60.0
    time_budget_s: float = 900.0
    # Noise-aware decisions: a probe whose latency or achieved rate lies within
    # boundary_margin of its SLO limit is repeated up to confirm_repeats more times and
    # decided by majority (docs/uncertainty.md).
    confirm_repeats: int = 2
    boundary_margin: float = 0.10
    # Search again in every repeat (max_throughput.repeats: an interval on the max
    # throughput figures); load points keep the first search's rates either way.
    every_repeat: bool = False
    # Start from the nearest searched clock's bracket, or the simulator's prediction
    # (src/greenllm/search/warm_start.py); false: the cold search from start_rps.
    warm_start: bool = True


@dataclass
class InstanceCfg:
    tp: int = 1
    max_batch: int = 64
    gpus: list[Any] | None = None  # NVML indices or UUIDs; None: the first `tp` GPUs


@dataclass
class AttributionCfg:
    # Idle power per setting (measure.idle_power): seconds of an idle window, once per
    # instance and setting; 0 skips it (the energy split then has no idle floor).
    idle_window_s: float = 3.0
    host_energy: bool = True  # read RAPL (host CPU/DRAM) where it is readable


@dataclass
class MeasureCfg:
    model: ModelCfg = field(default_factory=ModelCfg)
    engine: EngineCfg = field(default_factory=EngineCfg)
    gpu: GpuCfg = field(default_factory=GpuCfg)
    clocks: ClocksCfg = field(default_factory=ClocksCfg)
    workload: WorkloadCfg = field(default_factory=WorkloadCfg)
    load: LoadCfg = field(default_factory=LoadCfg)
    slo: SloCfg = field(default_factory=SloCfg)
    search: SearchCfg = field(default_factory=SearchCfg)
    instance: InstanceCfg = field(default_factory=InstanceCfg)
    attribution: AttributionCfg = field(default_factory=AttributionCfg)
    out_dir: str = MISSING
    retry_failed: bool = True  # a rerun measures failed cells again (ok cells are skipped)
    progress: bool = True


def register_schema() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="measure_schema", node=MeasureCfg)
