"""Fixtures shared by every test folder (this folder is on sys.path, so its helper
modules, e.g. ``simtest_helpers``, import from any test)."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenllm.load.model_folder import llama_config
from greenllm.load.shapes import SHAPES
from opt_in_markers import (
    pytest_collection_modifyitems,  # noqa: F401 (the hook)
    runs_gpu_tests,
)
from simtest_helpers import SimServer, write_model

# A suite started in the background by a non-interactive shell (`.ci/run &`, `( ... &)`)
# inherits SIGINT ignored, and so would every child it starts: Python then installs no
# KeyboardInterrupt, and the Ctrl-C tests (a measure run or a pinning child sent SIGINT)
# fail for the launcher's sake. A handler here is reset to the default in each child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Clock-pin markers and GPU locks of runs that name no state dir go to one of this test
# process's own, not to ~/.cache/greenllm: the xdist workers' tests never see each other's
# (a stale marker is restored by whichever run finds it), nor a developer's real ones.
# A state dir the caller set is kept; one a parent test process set (the xdist
# controller, whose environment the workers inherit) is replaced.
_owner = os.environ.get("GREENLLM_TEST_STATE_PID")
if "GREENLLM_STATE_DIR" not in os.environ or _owner not in (None, str(os.getpid())):
    os.environ["GREENLLM_STATE_DIR"] = tempfile.mkdtemp(prefix="greenllm-test-state-")
    os.environ["GREENLLM_TEST_STATE_PID"] = str(os.getpid())
    atexit.register(shutil.rmtree, os.environ["GREENLLM_STATE_DIR"], ignore_errors=True)

# The load client honours HTTP(S)_PROXY like vllm bench serve (load.trust_env): on a
# machine behind a proxy, the tests' local servers must still be reached directly.
for _name in ("NO_PROXY", "no_proxy"):
    _hosts = [h for h in os.environ.get(_name, "").split(",") if h]
    os.environ[_name] = ",".join(_hosts + [h for h in ("127.0.0.1", "localhost") if h not in _hosts])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """No workers (tests in this process, one after another) when the run selects the
    real-GPU tests: two of them side by side would share the card, and each measures it."""
    return 0 if runs_gpu_tests(config.getoption("markexpr") or "") else None


@pytest.fixture
def sim_1b_server(tmp_path: Path) -> Iterator[str]:
    """A simulated vLLM server as a real subprocess (the 1.1B shape, max batch 8, served
    as ``m``, with ``/metrics``); yields its base URL and stops it afterwards."""
    model = write_model(tmp_path / "sim-model",
                        llama_config(dict(SHAPES["llama-1b"]), "llama-1b", 2048))
    server = SimServer(tmp_path / "sim-server.log", model=model, served_model_name="m",
                       max_num_seqs=8, max_model_len=2048, disable_log_requests=True)
    try:
        server.wait_ready(60)
        yield server.url
    finally:
        server.stop()
