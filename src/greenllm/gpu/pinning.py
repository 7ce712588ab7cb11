"""Pin the SM clock of every GPU of an instance for a block of work, and always restore it.

    with pin_clocks(gpu, 1410, mode="pin") as plan:
        ...measure...            # clocks locked at plan.applied_mhz on all GPUs

``mode="pin"``: snap the request to the nearest supported clock (``plan.snapped``), reject
a clock outside the supported range (one-line GpuError), refuse early where clock control
is not permitted, write a marker file, lock, wait for the clock to settle and verify it,
then on exit reset every GPU to the driver default and remove the marker. The restore
runs on normal exit, on exceptions, on Ctrl-C (KeyboardInterrupt) and on SIGTERM/SIGHUP
(a handler turns them into ``SystemExit(128 + signal)`` while pinned; the previous
handlers come back afterwards). Signals that arrive *during* the restore are held back
and re-sent after it, so the restore itself is never cut short. ``kill -9`` cannot be
caught: the marker left behind lets the next ``pin_clocks`` or ``greenllm clocks reset``
restore those GPUs (``greenllm.gpu.markers``). ``mhz=None`` in pin mode resets the GPUs to
the driver default (a known state) and needs no restore.

``mode="observe"``: never calls a setter (lock/reset); records the clocks as they are.

The power limit and memory clock (``power_limit_w``, ``memory_clock_mhz``) ride along with
the same guarantees: checked before anything is set, written into the marker (with the
power limit each GPU had, which is what the restore puts back), read back after setting,
restored with the SM clock; observe mode records them.

Verification: after ``settle_s`` the SM clock of each GPU is read back until one of

* ``ok``: within ``tolerance_mhz`` of the locked clock;
* ``throttled``: below it with a power/thermal reason set (``sw_power_cap``, ...): the cap
  lowers the clock of a locked GPU too, so this is the lock working under load;
* ``idle``: below it with ``gpu_idle`` set and no throttle reason, still so after
  ``idle_grace_s``: some GPUs drop their clock when idle even if locked, so the lock can't
  be seen; ``plan.verified`` is then None (unknown) and a note says so -- telemetry under
  load (``clock_stats``) is the check that counts;
* anything else after ``settle_timeout_s`` (e.g. a readback *above* the lock): GpuError.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu import knob_settings
from greenllm.gpu.base import ClockPlan, Gpu, Sample
from greenllm.gpu.markers import (
    default_marker_dir,
    read_markers,
    remove_marker,
    restore_marker,
    write_marker,
)
from greenllm.gpu.reasons import GPU_IDLE, THROTTLE_MASK, decode_reasons
from greenllm.gpu.signal_guard import SignalGuard

MODES = ("pin", "observe")

# Markers this process holds right now; any other marker with our pid is a leftover of a
# restore that failed earlier in this process, and may be restored like a stale one.
_ACTIVE_MARKERS: set[Path] = set()
# What this process pinned and could not restore: the CLI's exit message says whether
# clocks were restored (cli/errors.py) instead of assuming it.
_PINNED_ANY = False
_UNRESTORED: list[str] = []


def restore_status() -> str:
    """One phrase for an exit message: were the clocks this process pinned restored?"""
    if _UNRESTORED:
        return (f"clocks NOT restored ({'; '.join(_UNRESTORED)}): run 'greenllm clocks reset'")
    return "clocks restored" if _PINNED_ANY else "no clock was pinned"


def reset_restore_status() -> None:
    """Forget earlier pins of this process: one CLI invocation reports on its own (a
    process that runs several, e.g. a test session, must not inherit a failed restore)."""
    global _PINNED_ANY
    _PINNED_ANY = False
    _UNRESTORED.clear()


def _warn(message: str) -> None:
    print(f"greenllm: warning: {message}", file=sys.stderr)


def snap_clock(supported_mhz: tuple[int, ...], mhz: int, *, gpu_label: str = "the GPU") -> int:
    """Nearest supported clock (ties go down); GpuError outside [lowest, highest]."""
    if not supported_mhz:
        raise GpuError(f"{gpu_label} reports no supported clocks, so clocks cannot be pinned; use clock mode 'observe'")
    lo, hi = supported_mhz[0], supported_mhz[-1]
    if not lo <= mhz <= hi:
        raise GpuError(f"clock {mhz} MHz is outside the supported range {lo}-{hi} MHz of {gpu_label}")
    return min(supported_mhz, key=lambda c: (abs(c - mhz), c))


def classify_readback(locked_mhz: int, readback_mhz: int, reasons: int, tolerance_mhz: int = 8) -> str:
    """'ok', 'throttled', 'idle' or 'mismatch' (see the module doc)."""
    if abs(readback_mhz - locked_mhz) <= tolerance_mhz:
        return "ok"
    if readback_mhz < locked_mhz and reasons & THROTTLE_MASK:
        return "throttled"
    if readback_mhz < locked_mhz and reasons & GPU_IDLE:
        return "idle"
    return "mismatch"


@contextmanager
def pin_clocks(
    gpu: Gpu,
    mhz: int | None,
    *,
    mode: str = "pin",
    power_limit_w: float | None = None,
    memory_clock_mhz: int | None = None,
    settle_s: float = 0.1,
    settle_timeout_s: float = 5.0,
    idle_grace_s: float = 0.5,
    poll_s: float = 0.01,
    tolerance_mhz: int = 8,
    marker_dir: str | os.PathLike[str] | None = None,
    warn: Callable[[str], None] = _warn,
) -> Iterator[ClockPlan]:
    """Pin (or observe) the SM clock of all of ``gpu``'s GPUs; see the module doc.

    ``power_limit_w`` / ``memory_clock_mhz`` (None: left as they are) are set, verified
    and restored with the same guarantees (``greenllm.gpu.knob_settings``)."""
    if mode not in MODES:
        raise GpuError(f"clock mode must be 'pin' or 'observe', got {mode!r}")
    if mhz is not None and (isinstance(mhz, bool) or int(mhz) != mhz):
        raise GpuError(f"clock must be a whole number of MHz, got {mhz!r}")
    markers_at = Path(marker_dir) if marker_dir is not None else default_marker_dir()
    indices = tuple(gpu.indices)
    if mode == "observe":
        plan = _observe(gpu, indices, mhz, markers_at, warn)
        plan.requested_power_limit_w = power_limit_w
        plan.requested_memory_clock_mhz = memory_clock_mhz
        knob_settings.observe(gpu, indices, plan)
        yield plan
        return

    plan = ClockPlan(mode="pin", requested_mhz=mhz, requested_power_limit_w=power_limit_w,
                     requested_memory_clock_mhz=memory_clock_mhz)
    extra = power_limit_w is not None or memory_clock_mhz is not None
    applied: dict[int, int] = {}
    if mhz is not None:
        for i in indices:
            info = gpu.info(i)
            applied[i] = snap_clock(info.supported_sm_clocks_mhz, int(mhz), gpu_label=f"GPU {i} ({info.name})")
    knob_settings.check_requests(gpu, indices, power_limit_w, memory_clock_mhz)
    for i in indices:
        if not gpu.clock_control_permitted(i):
            raise ClockPermissionError(
                f"setting clocks on GPU {i} is not permitted for this user (needs root or an admin "
                "grant, see docs/gpu.md); use clock mode 'observe'"
            )
    _take_over_markers(gpu, indices, markers_at, warn)

    if mhz is None:
        for i in indices:
            gpu.reset_sm_clock(i)
        plan.notes.append("no clock requested: locks reset, driver default clocks")
        if not extra:
            yield plan
            return
    else:
        first = applied[indices[0]]
        plan.applied_mhz = first
        plan.snapped = first != mhz
        if plan.snapped:
            plan.notes.append(f"requested {mhz} MHz, applied the nearest supported clock {first} MHz")
        if len(set(applied.values())) > 1:
            plan.notes.append(f"GPUs differ in supported clocks; applied {applied}")

    guard = SignalGuard()
    guard.install()
    marker_path: Path | None = None
    locked: list[int] = []
    knobs = knob_settings.KnobsSet()
    try:
        previous_w = (knob_settings.previous_power_limits(gpu, indices)
                      if power_limit_w is not None else {})
        try:
            marker_path = write_marker(markers_at, gpu, indices, plan.applied_mhz,
                                       sm_clock=mhz is not None,
                                       memory_clock=memory_clock_mhz is not None,
                                       previous_power_limit_w=previous_w)
        except OSError as exc:
            raise GpuError(f"cannot write the clock marker in {markers_at}: {exc.strerror or exc}") from None
        _ACTIVE_MARKERS.add(marker_path)
        global _PINNED_ANY
        _PINNED_ANY = True
        for i in applied:
            locked.append(i)  # before the call: a half-applied lock is reset too
            try:
                gpu.lock_sm_clock(i, applied[i])
            except ClockPermissionError:
                locked.remove(i)  # refused outright: nothing changed on this GPU
                raise
        knob_settings.apply(gpu, indices, power_limit_w, memory_clock_mhz, previous_w, knobs)
        if applied:
            _wait_and_verify(gpu, applied, plan, settle_s, settle_timeout_s, idle_grace_s, poll_s, tolerance_mhz)
        knob_settings.verify(gpu, indices, power_limit_w, memory_clock_mhz, plan, settle_timeout_s, poll_s)
        yield plan
    finally:
        guard.defer()
        try:
            _restore(gpu, locked, marker_path, warn, knobs)
        finally:
            guard.restore()


def _restore(gpu: Gpu, locked: list[int], marker_path: Path | None, warn: Callable[[str], None],
             knobs: knob_settings.KnobsSet | None = None) -> None:
    failures = []
    for i in locked:
        try:
            gpu.reset_sm_clock(i)
        except GpuError as exc:
            failures.append(f"GPU {i}: {exc}")
    if knobs is not None:
        failures += knob_settings.restore(gpu, knobs)
    if marker_path is None:
        return
    _ACTIVE_MARKERS.discard(marker_path)  # kept or not, no longer in use by this pin
    if failures:
        _UNRESTORED.extend(failures)
        warn(f"could not restore clocks ({'; '.join(failures)}); marker kept at {marker_path}, "
             "run 'greenllm clocks reset'")
    else:
        remove_marker(marker_path)


def _take_over_markers(gpu: Gpu, indices: tuple[int, ...], markers_at: Path, warn: Callable[[str], None]) -> None:
    """Restore stale markers on our GPUs; refuse if a live process has them pinned."""
    ours = {gpu.info(i).uuid for i in indices}
    for marker in read_markers(markers_at):
        if not ours.intersection(marker.uuids):
            continue
        own_leftover = marker.pid == os.getpid() and marker.path not in _ACTIVE_MARKERS
        if not own_leftover and (marker.pid == os.getpid() or not marker.is_stale()):
            raise GpuError(
                f"GPU clocks are already pinned by process {marker.pid} on {marker.hostname} "
                f"(marker {marker.path}); wait for it or run 'greenllm clocks reset' if it is gone"
            )
        warn(restore_marker(marker))


def _observe(gpu: Gpu, indices: tuple[int, ...], mhz: int | None, markers_at: Path,
             warn: Callable[[str], None]) -> ClockPlan:
    plan = ClockPlan(mode="observe", requested_mhz=mhz)
    plan.notes.append("observe mode: clocks are read, never set")
    if mhz is not None:
        plan.notes.append(f"requested {mhz} MHz not applied (observe mode)")
    ours = {gpu.info(i).uuid for i in indices}
    for marker in read_markers(markers_at):
        if ours.intersection(marker.uuids) and marker.is_stale():
            warn(f"clocks may still be locked from a crashed run ({marker.describe()}); "
                 "run 'greenllm clocks reset'")
    for i in indices:
        s = gpu.sample(i, energy=False)
        plan.readback_mhz[i] = s.sm_clock_mhz
        plan.notes.append(_readback_note(s))
    return plan


def _readback_note(s: Sample) -> str:
    reasons = ", ".join(decode_reasons(s.throttle_reasons)) or "none"
    return f"GPU {s.index} reads {s.sm_clock_mhz} MHz (reasons: {reasons})"


def _wait_and_verify(
    gpu: Gpu,
    applied: dict[int, int],
    plan: ClockPlan,
    settle_s: float,
    timeout_s: float,
    idle_grace_s: float,
    poll_s: float,
    tolerance_mhz: int,
) -> None:
    start = time.monotonic()
    time.sleep(settle_s)
    while True:
        samples = {i: gpu.sample(i, energy=False) for i in applied}
        status = {
            i: classify_readback(applied[i], s.sm_clock_mhz, s.throttle_reasons, tolerance_mhz)
            for i, s in samples.items()
        }
        kinds = set(status.values())
        elapsed = time.monotonic() - start
        if kinds <= {"ok", "throttled"}:
            break
        if "mismatch" not in kinds and (elapsed >= idle_grace_s or elapsed >= timeout_s):
            break
        if elapsed >= timeout_s:
            i = next(i for i, k in status.items() if k == "mismatch")
            s = samples[i]
            reasons = ", ".join(decode_reasons(s.throttle_reasons)) or "none"
            raise GpuError(
                f"GPU {i} reads {s.sm_clock_mhz} MHz, not the locked {applied[i]} MHz, "
                f"{elapsed:.1f} s after locking (reasons: {reasons}): the lock did not take effect"
            )
        time.sleep(poll_s)
    for i, s in samples.items():
        plan.readback_mhz[i] = s.sm_clock_mhz
        if status[i] == "throttled":
            plan.notes.append(f"{_readback_note(s)}: below the lock under the power/thermal limit, lock in effect")
        elif status[i] == "idle":
            plan.notes.append(f"{_readback_note(s)}: GPU idle, lock not visible until it is loaded")
    plan.verified = True if "idle" not in status.values() else None


def change_pinned_clock(
    gpu: Gpu,
    plan: ClockPlan,
    mhz: int,
    *,
    settle_s: float = 0.02,
    settle_timeout_s: float = 5.0,
    idle_grace_s: float = 0.2,
    poll_s: float = 0.01,
    tolerance_mhz: int = 8,
) -> ClockPlan:
    """Move the lock of an active ``pin_clocks`` block to ``mhz`` and verify it (a policy
    changing the clock while a replay runs). The enclosing ``pin_clocks`` still owns the
    restore: it resets every GPU it locked (whatever the clock now is) on every exit path,
    and its marker restores them after ``kill -9``. Returns this change's own plan
    (applied, verified, readback); ``plan.applied_mhz`` follows the change."""
    if plan.mode != "pin" or plan.applied_mhz is None:
        raise GpuError("a clock can only be changed inside an active pin_clocks(mode='pin') block")
    change = ClockPlan(mode="pin", requested_mhz=int(mhz))
    applied = {}
    for i in gpu.indices:
        info = gpu.info(i)
        applied[i] = snap_clock(info.supported_sm_clocks_mhz, int(mhz), gpu_label=f"GPU {i} ({info.name})")
    for i in gpu.indices:
        gpu.lock_sm_clock(i, applied[i])
    change.applied_mhz = applied[gpu.indices[0]]
    change.snapped = change.applied_mhz != int(mhz)
    _wait_and_verify(gpu, applied, change, settle_s, settle_timeout_s, idle_grace_s, poll_s, tolerance_mhz)
    plan.applied_mhz = change.applied_mhz
    plan.notes.append(f"clock changed to {change.applied_mhz} MHz (verified: {change.verified})")
    return change
