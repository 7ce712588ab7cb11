"""Two runs never share an output folder or a GPU: flock locks that say who holds them
and that the kernel releases however the holder ends (kill -9 included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from greenllm.locks import LockHeldError, gpu_lock_path, held_by_other, hold, hold_gpus

HOLDER = """
import sys, time
from greenllm.locks import hold
with hold(sys.argv[1], "test"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_holder_is_refused_with_the_holders_pid_and_host(tmp_path):
    path = tmp_path / "x.lock"
    with hold(path, "output folder X"):
        with pytest.raises(LockHeldError) as exc:
            with hold(path, "output folder X"):
                pass
        msg = str(exc.value)
        assert f"pid {os.getpid()}" in msg and "on host" in msg and "started" in msg
        assert exc.value.exit_code == 5
        assert held_by_other(path) is not None
    with hold(path, "output folder X"):  # released at the end of the block
        pass
    assert held_by_other(path) is None


def test_gpu_locks_are_all_or_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENLLM_STATE_DIR", str(tmp_path))
    with hold_gpus(["GPU-b"], [1]):
        with pytest.raises(LockHeldError, match=r"GPU 1 \(GPU-b\)"):
            with hold_gpus(["GPU-a", "GPU-b"], [0, 1]):
                pass
        with hold_gpus(["GPU-a"], [0]):  # GPU-a was released when GPU-b was refused
            pass
    assert gpu_lock_path("GPU-b").parent == tmp_path / "gpu-locks"


def test_kill_9_releases_the_lock(tmp_path):
    path = tmp_path / "x.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError, match=f"pid {proc.pid} "):
            with hold(path, "test"):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while held_by_other(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    with hold(path, "test"):  # the kernel dropped the dead holder's lock
        pass
