"""Fixtures shared by every test folder."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenllm.engine.ports import free_port
from greenllm.load.model_folder import llama_config
from greenllm.load.shapes import SHAPES
from greenllm.sim.launch import server_argv, wait_healthy


@pytest.fixture
def sim_1b_server(tmp_path: Path) -> Iterator[str]:
    """A simulated vLLM server as a real subprocess (the 1.1B shape, max batch 8, served
    as ``m``, with ``/metrics``); yields its base URL and stops it afterwards."""
    model = tmp_path / "sim-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(
        llama_config(dict(SHAPES["llama-1b"]), "llama-1b", 2048)))
    url = f"http://127.0.0.1:{(port := free_port())}"
    proc = subprocess.Popen(server_argv(model, served_model_name="m", max_num_seqs=8,
                                        max_model_len=2048, port=port,
                                        disable_log_requests=True),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_healthy(url, proc, 60):
            raise RuntimeError(f"the simulated server at {url} did not become healthy")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
