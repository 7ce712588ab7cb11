"""Command-line arguments of the simulated server and their validation (no aiohttp here)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError
from greenllm.sim.hardware import Calibration
from greenllm.sim.model_shape import ModelShape

SIMULATED_HEADER = "x-greenllm-simulated"
READY_MARKER = "greenllm-sim: ready"


@dataclass
class ServerConfig:
    model_dir: Path
    served_model_name: str
    shape: ModelShape
    tp: int
    max_num_seqs: int
    max_num_batched_tokens: int
    max_model_len: int
    gpu_state: Path | None
    gpu_indices: tuple[int, ...]
    host: str
    port: int
    fixed_ttft_s: float | None
    fixed_tbt_s: float | None
    startup_delay_s: float
    calibration: Calibration
    log_requests: bool


# --- argument parsing -------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m greenllm.sim.server",
        description="Simulated vLLM-like OpenAI server (every response is labelled simulated).",
    )
    p.add_argument("--model", required=True, help="folder with the model's config.json")
    p.add_argument("--served-model-name", default=None, help="name clients use (default: --model)")
    p.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    p.add_argument("--max-num-seqs", type=int, default=256)
    p.add_argument("--max-num-batched-tokens", type=int, default=8192)
    p.add_argument(
        "--max-model-len",
        type=int,
        default=None,
        help="default: max_position_embeddings of config.json, else 4096",
    )
    p.add_argument(
        "--gpu-state",
        default=None,
        help="SimGpu state file (greenllm.gpu.sim); without it the clock is fixed at boost",
    )
    p.add_argument(
        "--gpu-indices", default=None, help="comma-separated SimGpu indices (default 0..TP-1)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--fixed-latency-ttft-s", type=float, default=None)
    p.add_argument("--fixed-latency-tbt-s", type=float, default=None)
    p.add_argument(
        "--startup-delay-s",
        type=float,
        default=0.0,
        help="seconds before the port opens (mimics engine start-up)",
    )
    p.add_argument(
        "--calibration",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a constant of greenllm.sim.hardware.Calibration (repeatable)",
    )
    p.add_argument("--disable-log-requests", action="store_true")
    # vLLM flags that launchers commonly pass; accepted and ignored (nothing to load).
    for flag in ("--load-format", "--dtype", "--seed", "--tokenizer", "--gpu-memory-utilization"):
        p.add_argument(flag, default=None, help=argparse.SUPPRESS)
    for flag in (
        "--enforce-eager",
        "--disable-log-stats",
        "--no-enable-prefix-caching",
        "--enable-prefix-caching",
        "--enable-chunked-prefill",
        "--disable-uvicorn-access-log",
    ):
        p.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    return p


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """Validate everything up front; raises GreenllmError with one line."""
    shape = ModelShape.from_config_json(args.model)
    tp = args.tensor_parallel_size
    shape.check_tensor_parallel(tp)
    for name in ("max_num_seqs", "max_num_batched_tokens"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
    max_model_len = args.max_model_len
    if max_model_len is None:
        try:
            cfg = json.loads((Path(args.model) / "config.json").read_text())
            max_model_len = int(cfg.get("max_position_embeddings") or 4096)
        except (OSError, ValueError, TypeError):
            max_model_len = 4096
    if max_model_len < 2:
        raise ConfigError(f"--max-model-len must be >= 2, got {max_model_len}")
    if args.gpu_indices:
        try:
            indices = tuple(int(x) for x in args.gpu_indices.split(",") if x.strip())
        except ValueError:
            raise ConfigError(
                f"--gpu-indices must be comma-separated integers, got {args.gpu_indices!r}"
            ) from None
    else:
        indices = tuple(range(tp))
    if len(indices) != tp or len(set(indices)) != tp:
        raise ConfigError(f"--gpu-indices {list(indices)} must name {tp} distinct GPUs (TP={tp})")
    gpu_state = Path(args.gpu_state) if args.gpu_state else None
    if gpu_state is not None and not gpu_state.exists():
        raise ConfigError(f"SimGpu state file not found: {gpu_state}")
    fixed = (args.fixed_latency_ttft_s, args.fixed_latency_tbt_s)
    if (fixed[0] is None) != (fixed[1] is None):
        raise ConfigError("give both --fixed-latency-ttft-s and --fixed-latency-tbt-s, or neither")
    if fixed[0] is not None and (fixed[0] < 0 or fixed[1] < 0):
        raise ConfigError("fixed latencies must be >= 0")
    if args.startup_delay_s < 0:
        raise ConfigError("--startup-delay-s must be >= 0")
    if not 0 <= args.port < 65536:
        raise ConfigError(f"--port {args.port} out of range")
    overrides: dict[str, str] = {}
    for item in args.calibration:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--calibration expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    return ServerConfig(
        model_dir=Path(args.model),
        served_model_name=args.served_model_name or args.model,
        shape=shape,
        tp=tp,
        max_num_seqs=args.max_num_seqs,
        max_num_batched_tokens=args.max_num_batched_tokens,
        max_model_len=max_model_len,
        gpu_state=gpu_state,
        gpu_indices=indices,
        host=args.host,
        port=args.port,
        fixed_ttft_s=fixed[0],
        fixed_tbt_s=fixed[1],
        startup_delay_s=args.startup_delay_s,
        calibration=Calibration().with_overrides(overrides),
        log_requests=not args.disable_log_requests,
    )


def open_gpu(cfg: ServerConfig) -> Any:
    if cfg.gpu_state is None:
        return None
    from greenllm.gpu.sim import SimGpu  # only the simulator's GPU; never real NVML here

    return SimGpu.open(cfg.gpu_state, indices=list(cfg.gpu_indices))
