"""Build the command line that starts the simulated server (for ``greenllm.engine``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence


def server_argv(
    model: str | os.PathLike[str],
    *,
    served_model_name: str | None = None,
    tensor_parallel_size: int = 1,
    max_num_seqs: int = 256,
    max_num_batched_tokens: int = 8192,
    max_model_len: int | None = None,
    gpu_state: str | os.PathLike[str] | None = None,
    gpu_indices: Sequence[int] | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    fixed_latency_ttft_s: float | None = None,
    fixed_latency_tbt_s: float | None = None,
    startup_delay_s: float | None = None,
    calibration: Mapping[str, float] | None = None,
    disable_log_requests: bool = False,
    python: str | None = None,
) -> list[str]:
    """``[python, -m, greenllm.sim.server, ...]`` with flags named like ``vllm serve``'s."""
    argv = [
        python or sys.executable,
        "-m",
        "greenllm.sim.server",
        "--model",
        os.fspath(model),
        "--tensor-parallel-size",
        str(tensor_parallel_size),
        "--max-num-seqs",
        str(max_num_seqs),
        "--max-num-batched-tokens",
        str(max_num_batched_tokens),
        "--host",
        host,
        "--port",
        str(port),
    ]
    if served_model_name:
        argv += ["--served-model-name", served_model_name]
    if max_model_len is not None:
        argv += ["--max-model-len", str(max_model_len)]
    if gpu_state is not None:
        argv += ["--gpu-state", os.fspath(gpu_state)]
    if gpu_indices is not None:
        argv += ["--gpu-indices", ",".join(str(i) for i in gpu_indices)]
    if fixed_latency_ttft_s is not None or fixed_latency_tbt_s is not None:
        argv += [
            "--fixed-latency-ttft-s",
            repr(float(fixed_latency_ttft_s or 0.0)),
            "--fixed-latency-tbt-s",
            repr(float(fixed_latency_tbt_s or 0.0)),
        ]
    if startup_delay_s:
        argv += ["--startup-delay-s", repr(float(startup_delay_s))]
    for key, value in (calibration or {}).items():
        argv += ["--calibration", f"{key}={value}"]
    if disable_log_requests:
        argv.append("--disable-log-requests")
    return argv
