"""Start, watch and stop an OpenAI-compatible server process (vLLM or the simulator).

Both engines are launched the same way: an argv list (never a shell string), the
server's output captured to a log file, readiness by polling ``/health``, and a stop
that sends SIGINT to the whole process group (vLLM forks workers), then SIGKILL after a
grace period.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from greenllm.errors import EngineError


def _die_with_parent() -> None:
    """In the child: get SIGTERM when greenllm dies, even by SIGKILL (Linux only).

    A server left running after its parent was killed (a job time limit, kill -9)
    keeps the GPU's memory, and the next engine start fails for lack of it.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


_PR_SET_PDEATHSIG = 1


def log_tail(path: Path, lines: int = 20) -> list[str]:
    """Last non-empty lines of a log file (empty list if it does not exist)."""
    try:
        with open(path, "rb") as fh:
            tail = deque(fh, maxlen=lines)
    except FileNotFoundError:
        return []
    return [ln.decode(errors="replace").rstrip() for ln in tail if ln.strip()]


class ServerProcess:
    """One server subprocess with its log file and health URL."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        host: str,
        port: int,
        log_path: str | os.PathLike[str],
        env: Mapping[str, str] | None = None,
        name: str = "server",
    ):
        self.argv = [str(a) for a in argv]
        self.host, self.port = host, port
        self.log_path = Path(log_path)
        self.env = dict(os.environ if env is None else env)
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Append: a resumed run keeps the earlier attempts' logs for diagnosis.
        log = open(self.log_path, "ab")
        log.write(f"\n==== greenllm: starting {self.name}: {' '.join(self.argv)}\n".encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,  # own process group: stop() reaches vLLM's workers
                preexec_fn=_die_with_parent,
            )
        except FileNotFoundError as exc:
            raise EngineError(f"cannot start {self.name}: {exc.filename} not found") from None
        finally:
            log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _died_error(self, during: str) -> EngineError:
        code = self.proc.returncode if self.proc else None
        tail = log_tail(self.log_path)
        last = next((ln for ln in reversed(tail) if "error" in ln.lower()), tail[-1] if tail else "")
        return EngineError(
            f"{self.name} exited with code {code} {during}: {last.strip()[:300]} "
            f"(full log: {self.log_path})\n" + "\n".join(tail)
        )

    def check_alive(self, during: str = "while measuring") -> None:
        if not self.alive():
            raise self._died_error(during)

    def health_ok(self, timeout_s: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=timeout_s) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def wait_ready(self, timeout_s: float, progress_every_s: float = 15.0) -> float:
        """Poll /health until it answers 200; fail fast if the process dies.

        Returns the seconds it took. Engine start is slow (vLLM: ~95-155 s for a 1B
        model on an H100, minutes for 70B), so progress is printed periodically.
        """
        t0 = time.monotonic()
        next_note = t0 + progress_every_s
        while True:
            if not self.alive():
                raise self._died_error("during start")
            if self.health_ok():
                return time.monotonic() - t0
            now = time.monotonic()
            if now - t0 > timeout_s:
                self.stop()
                raise EngineError(
                    f"{self.name} did not become healthy within {timeout_s:.0f} s "
                    f"(log: {self.log_path}); raise engine.startup_timeout_s if it is just slow"
                )
            if now >= next_note:
                print(f"greenllm: waiting for {self.name} ({now - t0:.0f} s) ...", file=sys.stderr)
                next_note = now + progress_every_s
            time.sleep(0.25)

    def stop(self, grace_s: float = 30.0) -> int | None:
        """SIGINT the process group, then SIGKILL after ``grace_s``. Idempotent."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal_group(signal.SIGINT)
            try:
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Workers may outlive the main process; make sure the group is gone.
        self._signal_group(signal.SIGKILL)
        return self.proc.returncode

    def _signal_group(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
