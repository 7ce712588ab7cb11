"""Locks that keep two greenllm runs off one output folder and off one GPU.

A lock is ``flock`` on a file: the kernel drops it when its holder exits in any way,
``kill -9`` included, so a lock never outlives its run and nothing needs cleaning up.
The holder writes who it is (pid, host, start time, command) into the file, so the run
that is refused can say who holds it.

* the output folder: ``<out_dir>/.greenllm.lock``;
* each GPU: ``<state dir>/gpu-locks/<uuid>.lock`` (``$GREENLLM_STATE_DIR`` or
  ``~/.cache/greenllm``), keyed by UUID: the same card under any index or
  ``CUDA_VISIBLE_DEVICES``; each simulated node has its own UUIDs.

Lock files are never deleted (deleting a lock file races with a run opening it).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

from greenllm.errors import GreenllmError

RESULTS_LOCK = ".greenllm.lock"


class LockHeldError(GreenllmError):
    """Another run holds the output folder or a GPU."""

    exit_code = 5


def state_dir() -> Path:
    state = os.environ.get("GREENLLM_STATE_DIR")
    return Path(state) if state else Path.home() / ".cache" / "greenllm"


def gpu_lock_path(uuid: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in uuid)
    return state_dir() / "gpu-locks" / f"{safe}.lock"


def holder_of(path: Path) -> str:
    """Who holds the lock at ``path``, as written by its holder."""
    for _ in range(3):  # the holder writes its record right after locking
        try:
            rec = json.loads(Path(path).read_text() or "null")
        except (OSError, ValueError):
            rec = None
        if isinstance(rec, dict):
            return (f"pid {rec.get('pid')} on host {rec.get('host')}, started "
                    f"{rec.get('started')}")
        time.sleep(0.05)
    return "a process that has not said who it is yet"


@contextmanager
def hold(path: str | os.PathLike[str], what: str) -> Iterator[Path]:
    """Hold the lock at ``path`` for the block, or raise ``LockHeldError`` at once."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise LockHeldError(
                f"{what} is in use by another greenllm run: {holder_of(path)} (lock {path}); "
                "wait for it to finish or stop it") from None
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "command": " ".join(sys.argv)[:500], "what": what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def held_by_other(path: str | os.PathLike[str]) -> str | None:
    """Who holds ``path`` right now (None if nobody): for the validation pass."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return holder_of(path)
    finally:
        os.close(fd)
    return None


def hold_results_folder(out: Path) -> AbstractContextManager[Path]:
    return hold(Path(out) / RESULTS_LOCK, f"output folder {out}")


@contextmanager
def hold_gpus(uuids: Sequence[str], indices: Sequence[int]) -> Iterator[None]:
    """Hold every GPU of an instance (all or none)."""
    with ExitStack() as stack:
        for uuid, index in zip(uuids, indices):
            stack.enter_context(hold(gpu_lock_path(uuid), f"GPU {index} ({uuid})"))
        yield
