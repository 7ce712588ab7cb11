"""Real-hardware tests: `pytest -m "gpu or vllm"` on a machine with an NVIDIA GPU (and
vLLM for the `vllm` ones). Plain `pytest` skips them (tests/opt_in_markers.py); asked for
on a machine without a GPU or vLLM, they skip with the reason.

They only read the GPU. GREENLLM_GPU_READ_ONLY=1 is forced for every test here (and the
processes they start), so no NVML setter can run even if a code path tried one.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from greenllm.errors import GpuError


@pytest.fixture(autouse=True)
def _gpu_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENLLM_GPU_READ_ONLY", "1")


@pytest.fixture
def real_gpu(_gpu_read_only: None) -> Iterator:
    """GPU 0 (CUDA_VISIBLE_DEVICES-relative) through NVML, or a skip saying why not."""
    if importlib.util.find_spec("pynvml") is None:
        pytest.skip("no real GPU: pynvml (nvidia-ml-py) is not installed")
    from greenllm.gpu import open_gpus

    try:
        gpu = open_gpus("nvml", [0])
    except GpuError as exc:
        pytest.skip(f"no real GPU readable here: {exc}")
    with gpu:
        yield gpu


@pytest.fixture
def vllm_installed() -> None:
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not importable (pip install -e '.[vllm]' on a GPU machine)")
