"""``vllm serve`` as a greenllm engine: argv from config, GPUs by UUID, version."""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class VllmArgs:
    model_dir: str
    served_model_name: str
    tensor_parallel_size: int
    max_num_seqs: int
    max_model_len: int
    load_format: str  # "dummy" (random weights: shape-only energy runs) or "auto"
    gpu_memory_utilization: float
    host: str
    port: int
    max_num_batched_tokens: int | None = None
    enable_prefix_caching: bool = False
    extra_args: Sequence[str] = field(default_factory=tuple)


def vllm_executable() -> list[str]:
    """The ``vllm`` CLI if on PATH, else the same entry point through this python."""
    exe = shutil.which("vllm")
    return [exe] if exe else [sys.executable, "-m", "vllm.entrypoints.cli.main"]


def vllm_serve_argv(a: VllmArgs) -> list[str]:
    """The argv list of ``vllm serve`` (never a shell string: no quoting bugs)."""
    argv = [
        *vllm_executable(), "serve", a.model_dir,
        "--served-model-name", a.served_model_name,
        "--tensor-parallel-size", str(a.tensor_parallel_size),
        "--max-num-seqs", str(a.max_num_seqs),
        "--max-model-len", str(a.max_model_len),
        "--load-format", "dummy" if a.load_format == "dummy" else "auto",
        "--gpu-memory-utilization", str(a.gpu_memory_utilization),
        # Prefix caching would let repeated prompt prefixes skip prefill and hide the
        # prefill's clock sensitivity; the paper's vLLM had none.
        "--enable-prefix-caching" if a.enable_prefix_caching else "--no-enable-prefix-caching",
        "--host", a.host,
        "--port", str(a.port),
        # One access-log line per request would flood the log at hundreds of req/s.
        "--disable-uvicorn-access-log",
    ]
    if a.max_num_batched_tokens:
        argv += ["--max-num-batched-tokens", str(a.max_num_batched_tokens)]
    argv += [str(x) for x in a.extra_args]
    return argv


def vllm_version() -> str | None:
    """Installed vLLM version, read from package metadata (no heavy import)."""
    try:
        return importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return None
