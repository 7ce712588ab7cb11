"""Build the command line that starts the simulated server (for ``greenllm.engine``), and
wait for a server started from it to answer (for tests and benchmarks that start one)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence

# Never route 127.0.0.1 through a proxy that the environment might name.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


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


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    """Poll ``url``/health until it answers 200: True then; False if ``proc`` exits or
    ``timeout_s`` passes first (``proc.poll()`` tells which, for the caller's message)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with _NO_PROXY.open(url + "/health", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:  # not listening yet (URLError and HTTPError are OSErrors)
            pass
        time.sleep(0.05)
    return False
