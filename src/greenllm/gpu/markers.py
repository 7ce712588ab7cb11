"""Clock-pin markers: files that say "these GPUs are locked by process P".

``pin_clocks`` writes a marker (atomically) *before* it locks clocks and removes it
after restoring them. If the process dies without restoring (``kill -9``, power loss of
the node's login session, OOM killer), the marker outlives it; the next ``pin_clocks``
and ``greenllm clocks reset`` find markers whose process is gone ("stale") and reset
those GPUs' clocks. A marker also keeps two live runs from pinning the same GPU.

Marker JSON: ``{"version", "pid", "pid_start_ticks", "hostname", "time_wall", "mhz",
"reopen_args", "gpus": [{"index", "uuid"}], "sm_clock", "memory_clock",
"previous_power_limit_w": {uuid: W}}``: which knobs were set (a version-1 marker, from
before the power limit and memory clock were knobs, means the SM clock alone), and the
power limit each GPU had before, which the restore puts back. ``reopen_args`` says how to open the GPUs
again (``Gpu.reopen_args()``: NVML, or the simulated GPUs' state file). The process start
time (``/proc/<pid>/stat``) guards against a reused pid; markers of other hosts (a
shared home directory on a cluster) are left alone.

Directory: ``$GREENLLM_STATE_DIR/clock-markers`` if that variable is set, else
``~/.cache/greenllm/clock-markers``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid as uuid_lib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenllm.atomic import write_json
from greenllm.errors import GpuError
from greenllm.gpu.base import Gpu

MARKER_GLOB = "clock-pin-*.json"
_VERSION = 2  # 2: sm_clock, memory_clock, previous_power_limit_w


def default_marker_dir() -> Path:
    state = os.environ.get("GREENLLM_STATE_DIR")
    if state:
        return Path(state) / "clock-markers"
    return Path.home() / ".cache" / "greenllm" / "clock-markers"


def _warn(message: str) -> None:
    print(f"greenllm: warning: {message}", file=sys.stderr)


@dataclass(frozen=True)
class ClockMarker:
    path: Path
    pid: int
    pid_start_ticks: int | None
    hostname: str
    time_wall: float
    mhz: int | None
    reopen_args: dict[str, Any]
    gpus: tuple[tuple[int, str], ...]  # (physical index, uuid)
    sm_clock: bool = True  # the SM clock was locked
    memory_clock: bool = False  # the memory clock was locked
    previous_power_limit_w: dict[str, float] = field(default_factory=dict)  # uuid -> W

    @property
    def uuids(self) -> tuple[str, ...]:
        return tuple(u for _, u in self.gpus)

    def is_local(self) -> bool:
        return self.hostname == socket.gethostname()

    def is_stale(self) -> bool:
        """The process that wrote it (on this host) is gone."""
        if not self.is_local():
            return False  # cannot tell; another host's process may well be alive
        return not _process_alive(self.pid, self.pid_start_ticks)

    def describe(self) -> str:
        gpus = ", ".join(f"{i} ({u})" for i, u in self.gpus)
        knobs = []
        if self.sm_clock:
            knobs.append(f"SM clock {self.mhz} MHz" if self.mhz else "a locked SM clock")
        if self.memory_clock:
            knobs.append("a locked memory clock")
        if self.previous_power_limit_w:
            knobs.append("a changed power limit")
        clock = " and ".join(knobs) or "default clocks"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time_wall))
        return f"GPU {gpus} left at {clock} by process {self.pid} (pinned {when}; marker {self.path})"


def write_marker(marker_dir: str | os.PathLike[str], gpu: Gpu, indices: Sequence[int], mhz: int | None,
                 *, sm_clock: bool = True, memory_clock: bool = False,
                 previous_power_limit_w: dict[int, float] | None = None) -> Path:
    previous = previous_power_limit_w or {}
    path = Path(marker_dir) / f"clock-pin-{os.getpid()}-{uuid_lib.uuid4().hex[:8]}.json"
    write_json(
        path,
        {
            "version": _VERSION,
            "pid": os.getpid(),
            "pid_start_ticks": _process_start_ticks(os.getpid()),
            "hostname": socket.gethostname(),
            "time_wall": time.time(),
            "mhz": mhz,
            "reopen_args": gpu.reopen_args(),
            "gpus": [{"index": i, "uuid": gpu.info(i).uuid} for i in indices],
            "sm_clock": bool(sm_clock),
            "memory_clock": bool(memory_clock),
            "previous_power_limit_w": {gpu.info(i).uuid: float(w) for i, w in previous.items()},
        },
    )
    return path


def read_markers(marker_dir: str | os.PathLike[str]) -> list[ClockMarker]:
    """Markers in ``marker_dir`` (none if it does not exist); unreadable ones are skipped
    with a warning (writes are atomic, so this means someone else's file)."""
    directory = Path(marker_dir)
    if not directory.is_dir():
        return []
    markers = []
    for path in sorted(directory.glob(MARKER_GLOB)):
        try:
            raw = json.loads(path.read_text())
            markers.append(
                ClockMarker(
                    path=path,
                    pid=int(raw["pid"]),
                    pid_start_ticks=raw.get("pid_start_ticks"),
                    hostname=str(raw["hostname"]),
                    time_wall=float(raw["time_wall"]),
                    mhz=raw.get("mhz"),
                    reopen_args=dict(raw["reopen_args"]),
                    gpus=tuple((int(g["index"]), str(g["uuid"])) for g in raw["gpus"]),
                    sm_clock=bool(raw.get("sm_clock", True)),
                    memory_clock=bool(raw.get("memory_clock", False)),
                    previous_power_limit_w={str(u): float(w) for u, w in
                                            (raw.get("previous_power_limit_w") or {}).items()},
                )
            )
        except FileNotFoundError:
            continue  # removed by its owner meanwhile
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _warn(f"ignoring unreadable clock marker {path}: {exc}")
    return markers


def remove_marker(path: str | os.PathLike[str]) -> None:
    Path(path).unlink(missing_ok=True)


def restore_marker(marker: ClockMarker) -> str:
    """Reset the clocks of the marker's GPUs and remove it; returns what was done.

    Raises GpuError (marker kept, so a later attempt can retry) if a reset fails.
    """
    from greenllm.gpu.factory import open_by_uuid

    if marker.reopen_args.get("backend") == "sim":
        state = marker.reopen_args.get("sim_state_path")
        if state and not Path(str(state)).exists():
            remove_marker(marker.path)
            return f"removed stale marker of simulated GPUs whose state file is gone: {marker.describe()}"
    gpu = open_by_uuid(marker.reopen_args, marker.uuids)
    try:
        for index in gpu.indices:
            if marker.sm_clock:
                gpu.reset_sm_clock(index)
            if marker.memory_clock:
                gpu.reset_memory_clock(index)
            previous_w = marker.previous_power_limit_w.get(gpu.info(index).uuid)
            if previous_w is not None:
                gpu.set_power_limit(index, previous_w)
    finally:
        gpu.close()
    remove_marker(marker.path)
    restored = " and the previous power limit" if marker.previous_power_limit_w else ""
    return f"restored default clocks{restored}: {marker.describe()}"


def restore_stale_markers(
    marker_dir: str | os.PathLike[str],
    *,
    warn: Callable[[str], None] = _warn,
) -> tuple[list[str], list[str]]:
    """Restore every stale marker of this host; returns (done, failed) messages, each
    also passed to ``warn`` (stderr by default)."""
    done: list[str] = []
    failed: list[str] = []
    for marker in read_markers(marker_dir):
        if not marker.is_stale():
            continue
        try:
            message = restore_marker(marker)
        except GpuError as exc:
            message = f"could not restore clocks ({exc}): {marker.describe()}"
            failed.append(message)
        else:
            done.append(message)
        warn(message)
    return done, failed


def _process_start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 2 (comm) may contain spaces/parens: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    try:
        return int(fields[19])  # field 22: starttime (clock ticks since boot)
    except (IndexError, ValueError):
        return None


def _process_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[0]


def _process_alive(pid: int, start_ticks: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if _process_state(pid) in ("Z", "X"):
        return False  # dead, waiting to be reaped: its finally blocks will never run
    if start_ticks is not None:
        now_ticks = _process_start_ticks(pid)
        if now_ticks is not None and now_ticks != start_ticks:
            return False  # the pid was reused by another process
    return True
