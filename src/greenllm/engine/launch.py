"""Build and start the configured engine (vLLM or the simulator) for one instance."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenllm import __version__
from greenllm.engine.ports import ensure_port_free, free_port
from greenllm.engine.server_process import ServerProcess
from greenllm.engine.vllm import VllmArgs, vllm_serve_argv, vllm_version
from greenllm.errors import EngineError


@dataclass
class EngineSpec:
    """Everything needed to start one instance's server."""

    kind: str  # vllm | sim
    model_dir: Path
    model_name: str
    tp: int
    max_batch: int
    max_model_len: int
    host: str
    port: int
    log_path: Path
    gpu_uuids: Sequence[str]  # vLLM: CUDA_VISIBLE_DEVICES (UUIDs are unambiguous)
    gpu_indices: Sequence[int]  # sim: indices into the SimGpu state file
    sim_state_path: Path | None = None


def engine_spec(cfg: Any, *, model_dir: Path, out_dir: Path, max_model_len: int,
                gpu_uuids: Sequence[str], gpu_indices: Sequence[int],
                sim_state_path: Path | None) -> EngineSpec:
    host = cfg.engine.host
    if cfg.engine.port is None:
        port = free_port(host)
    else:
        port = int(cfg.engine.port)
        ensure_port_free(host, port)
    return EngineSpec(
        kind=cfg.engine.kind, model_dir=model_dir, model_name=cfg.model.name,
        tp=int(cfg.instance.tp), max_batch=int(cfg.instance.max_batch),
        max_model_len=max_model_len, host=host, port=port,
        log_path=out_dir / "engine.log", gpu_uuids=list(gpu_uuids),
        gpu_indices=list(gpu_indices), sim_state_path=sim_state_path,
    )


def engine_argv(spec: EngineSpec, cfg: Any) -> list[str]:
    if spec.kind == "vllm":
        return vllm_serve_argv(VllmArgs(
            model_dir=str(spec.model_dir), served_model_name=spec.model_name,
            tensor_parallel_size=spec.tp, max_num_seqs=spec.max_batch,
            max_model_len=spec.max_model_len, load_format=cfg.model.load_format,
            gpu_memory_utilization=float(cfg.engine.gpu_memory_utilization),
            host=spec.host, port=spec.port,
            max_num_batched_tokens=cfg.engine.max_num_batched_tokens,
            enable_prefix_caching=bool(cfg.engine.enable_prefix_caching),
            extra_args=list(cfg.engine.extra_args),
        ))
    if spec.kind == "sim":
        if spec.sim_state_path is None:
            raise EngineError("the sim engine needs a simulated GPU state file")
        from greenllm.sim.launch import server_argv

        argv = server_argv(
            spec.model_dir, served_model_name=spec.model_name, tensor_parallel_size=spec.tp,
            max_num_seqs=spec.max_batch, max_model_len=spec.max_model_len,
            max_num_batched_tokens=int(cfg.engine.max_num_batched_tokens or 8192),
            gpu_state=spec.sim_state_path, gpu_indices=spec.gpu_indices,
            host=spec.host, port=spec.port, disable_log_requests=True,
        )
        return argv + [str(x) for x in cfg.engine.extra_args]
    raise EngineError(f"unknown engine kind {spec.kind!r}")


def engine_env(spec: EngineSpec, cfg: Any) -> dict[str, str]:
    env = dict(os.environ)
    from greenllm.measure.multi_gpu import engine_worker_env

    # NVLink multicast off for vLLM and the TP workers it starts (measure/multi_gpu.py)
    env.update(engine_worker_env(cfg.engine.env))
    if spec.kind == "vllm":
        env["CUDA_VISIBLE_DEVICES"] = ",".join(spec.gpu_uuids)
    return env


def engine_version(kind: str) -> str:
    if kind == "sim":
        return f"greenllm-sim {__version__}"
    return f"vllm {vllm_version() or 'unknown'}"


def start_engine(spec: EngineSpec, cfg: Any) -> ServerProcess:
    """Start the server and wait until /health answers (fails fast if it dies)."""
    if spec.kind == "vllm" and vllm_version() is None:
        raise EngineError(
            "vLLM is not installed in this environment: pip install 'greenllm[vllm]' on a GPU "
            "machine, or use engine=sim"
        )
    server = ServerProcess(engine_argv(spec, cfg), host=spec.host, port=spec.port,
                           log_path=spec.log_path, env=engine_env(spec, cfg),
                           name=f"{spec.kind} server")
    server.start()
    try:
        server.wait_ready(float(cfg.engine.startup_timeout_s))
    except BaseException:
        server.stop(grace_s=float(cfg.engine.stop_grace_s))
        raise
    return server
