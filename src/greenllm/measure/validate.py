"""Checks that run before any engine starts or any GPU time is spent.

Each failure is a one-line ConfigError that names the key to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from greenllm.engine.kinds import KINDS, engine_kind
from greenllm.errors import ConfigError
from greenllm.load.prompts import PROMPT_FORMATS
from greenllm.measure import knob_checks
from greenllm.measure.config import MeasureCfg, ModelShapeCfg
from greenllm.sweep_axes import any_setting

ENGINES = KINDS
CLOCK_MODES = ("pin", "observe")
ARRIVALS = ("poisson", "gamma", "constant")


def validate_static(cfg: MeasureCfg) -> None:
    """Everything that can be checked from the config alone (raises the first problem)."""
    for problem in static_problems(cfg):
        raise ConfigError(problem)


def static_problems(cfg: MeasureCfg) -> Iterator[str]:
    """Every problem found in the config alone, one line each (``measure.preflight``)."""
    if cfg.engine.kind not in ENGINES:
        yield (f"engine.kind={cfg.engine.kind!r}: must be one of {', '.join(ENGINES)}")
    else:
        yield from engine_kind(str(cfg.engine.kind)).config_problems(cfg)
    if cfg.load.prompt_format not in PROMPT_FORMATS:
        yield (f"load.prompt_format={cfg.load.prompt_format!r}: must be one of "
               f"{', '.join(PROMPT_FORMATS)}")
    if cfg.clocks.mode not in CLOCK_MODES:
        yield (f"clocks.mode={cfg.clocks.mode!r}: must be pin or observe")
    if cfg.model.load_format not in ("dummy", "real"):
        yield (f"model.load_format={cfg.model.load_format!r}: must be dummy or real")
    try:
        validate_parallelism(cfg.model.shape, int(cfg.instance.tp))
    except ConfigError as err:
        yield str(err)
    if cfg.instance.max_batch < 1:
        yield (f"instance.max_batch={cfg.instance.max_batch}: must be at least 1")
    if cfg.clocks.mode == "pin":
        if not any_setting(cfg.clocks):
            yield ("clocks.mhz is empty: list the clocks to pin (or clocks.power_limit_w "
                   "/ clocks.memory_mhz), or use clocks=observe")
        yield from knob_checks.static_problems(cfg)
        lo, hi = cfg.gpu.min_sm_clock_mhz, cfg.gpu.max_sm_clock_mhz
        for mhz in cfg.clocks.mhz:
            if not lo <= mhz <= hi:
                yield (
                    f"clocks.mhz has {mhz} MHz, outside {cfg.gpu.name}'s range {lo}-{hi} MHz"
                )
    if cfg.load.arrival not in ARRIVALS:
        yield (f"load.arrival={cfg.load.arrival!r}: must be one of {', '.join(ARRIVALS)}")
    if not list(cfg.load.points) and not list(cfg.load.rates_rps):
        yield ("no load to run: load.points and load.rates_rps are both empty")
    for rate in cfg.load.rates_rps:
        if not (isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0):
            yield (f"load.rates_rps has {rate!r}: rates must be numbers > 0 req/s")
    for name in cfg.load.points:
        if name not in cfg.load.fractions:
            known = ", ".join(cfg.load.fractions)
            yield (f"load.points has unknown load {name!r}; known: {known}")
    for name, frac in cfg.load.fractions.items():
        if not 0 < frac <= 1.5:
            yield (f"load.fractions.{name}={frac}: must be in (0, 1.5]")
    if not 0 < cfg.slo.percentile < 100:
        yield (f"slo.percentile={cfg.slo.percentile}: must be in (0, 100)")
    if cfg.slo.scale < 1:
        yield (f"slo.scale={cfg.slo.scale}: must be >= 1 (a multiple of the alone latency)")


def validate_parallelism(shape: ModelShapeCfg, tp: int) -> None:
    """vLLM shards attention heads evenly across TP ranks; KV heads are split or replicated."""
    heads, kv = int(shape.num_attention_heads), int(shape.num_key_value_heads)
    if tp < 1:
        raise ConfigError(f"instance.tp={tp}: must be at least 1")
    if heads % tp:
        raise ConfigError(
            f"instance.tp={tp} does not divide the model's {heads} attention heads "
            f"(valid: {', '.join(str(d) for d in range(1, heads + 1) if heads % d == 0 and d <= 16)})"
        )
    if kv % tp and tp % kv:
        raise ConfigError(
            f"instance.tp={tp} neither divides nor is a multiple of the model's {kv} KV heads"
        )


def max_model_len(cfg: MeasureCfg, workloads: list) -> int:
    """Context length the engine needs: the longest workload plus a small margin."""
    need = max(w.input_tokens + w.output_tokens for w in workloads) + 16
    length = int(cfg.engine.max_model_len or need)
    if length < need:
        raise ConfigError(f"engine.max_model_len={length} is shorter than the longest workload ({need})")
    if length > cfg.model.shape.max_position_embeddings:
        raise ConfigError(
            f"workloads need {length} tokens of context but model {cfg.model.name} has "
            f"max_position_embeddings={cfg.model.shape.max_position_embeddings}"
        )
    return length


def model_dir_ready(path: Path) -> bool:
    return (path / "config.json").is_file()
