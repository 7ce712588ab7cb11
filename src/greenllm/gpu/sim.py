"""``SimGpu``: a deterministic simulated GPU whose state is shared between processes.

Why shared: the simulated inference server (one process) sets the utilisation at each
engine iteration while the measurement process (another) samples telemetry and pins
clocks, exactly as vLLM and NVML share a real GPU. The state of every simulated GPU
lives in one memory-mapped file: a header (magic, count, permissions, settle time, the
spec as JSON) and one fixed binary struct per GPU. Every operation takes an exclusive
``fcntl.flock`` on the file (plus a thread lock, since flock does not separate threads
sharing one descriptor), advances the GPU's state to now, applies the change, and writes
the struct back. Time is ``time.monotonic()``, which on Linux is system-wide, so
timestamps from different processes agree.

The power model and limiter are in ``greenllm.gpu.sim_power``; the state file and how a
state advances through time (energy counter, 1 s average, temperature) in
``greenllm.gpu.sim_state``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import math
import mmap
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from greenllm.atomic import write_bytes
from greenllm.errors import ClockPermissionError, GpuError
from greenllm.gpu.base import Gpu, GpuInfo, Sample
from greenllm.gpu.sim_power import PowerLimiter, SimGpuSpec
from greenllm.gpu.sim_state import (
    DEVICE_SIZE,
    DEVICES_OFFSET,
    GRID_N,
    HEADER,
    MAGIC,
    NO_PENDING,
    SPEC_OFFSET,
    VERSION,
    DevState,
    advance,
    avg_power_w,
    operating,
    requested_clock,
    settings_spec,
)

__all__ = ["PowerLimiter", "SimGpu", "SimGpuSpec"]

class SimGpu(Gpu):
    """Simulated GPUs backed by a shared state file; use ``create`` / ``open``."""

    simulated = True

    def __init__(
        self,
        state_path: str | os.PathLike[str],
        indices: Sequence[int] | None = None,
        *,
        time_source: Callable[[], float] | None = None,
    ) -> None:
        self.state_path = Path(state_path).resolve()
        try:
            fd = os.open(self.state_path, os.O_RDWR)
        except FileNotFoundError:
            raise GpuError(
                f"simulated GPU state file {self.state_path} not found (create it with "
                "SimGpu.create or greenllm doctor --sim)"
            ) from None
        self._fd = fd
        try:
            size = os.fstat(fd).st_size
            if size < DEVICES_OFFSET:
                raise GpuError(f"{self.state_path} is not a greenllm SimGpu state file (too short)")
            self._mm = mmap.mmap(fd, size, access=mmap.ACCESS_WRITE)
            magic, version, count, permitted, spec_len, settle_s = HEADER.unpack_from(self._mm, 0)
            if magic != MAGIC or version != VERSION:
                raise GpuError(f"{self.state_path} is not a greenllm SimGpu state file (v{VERSION})")
            if size < DEVICES_OFFSET + count * DEVICE_SIZE:
                raise GpuError(f"{self.state_path} is truncated")
            spec_json = bytes(self._mm[SPEC_OFFSET:SPEC_OFFSET + spec_len]).decode()
        except BaseException:
            self.close()
            raise
        self.spec = SimGpuSpec(**json.loads(spec_json))
        self.count = int(count)
        self.settle_s = float(settle_s)
        self._clock_permitted = bool(permitted)
        chosen = list(range(self.count)) if indices is None else [int(i) for i in indices]
        for i in chosen:
            if not 0 <= i < self.count:
                raise GpuError(f"simulated GPU {i} does not exist ({self.count} in {self.state_path})")
        if len(set(chosen)) != len(chosen):
            raise GpuError(f"a simulated GPU is selected twice: {chosen}")
        self._indices = tuple(chosen)
        self._now = time_source or time.monotonic
        self._tlock = threading.Lock()
        self._supported = self.spec.supported_sm_clocks_mhz()

    @classmethod
    def create(
        cls,
        state_path: str | os.PathLike[str],
        count: int,
        spec: SimGpuSpec = SimGpuSpec.h100_sxm(),  # noqa: B008 - frozen, safe to share
        *,
        clock_permitted: bool = True,
        settle_s: float = 0.05,
        time_source: Callable[[], float] | None = None,
    ) -> SimGpu:
        """Create (or overwrite) the state file with ``count`` idle, unlocked GPUs.

        ``time_source`` replaces ``time.monotonic`` (tests only: a fake clock is not shared
        with other processes). Overwriting replaces the file atomically: processes that
        still have the old one open keep seeing the old state.
        """
        if not 1 <= int(count) <= 64:
            raise GpuError(f"simulated GPU count must be 1..64, got {count}")
        if not settle_s >= 0:
            raise GpuError(f"settle_s must be >= 0, got {settle_s}")
        spec_json = json.dumps(dataclasses.asdict(spec)).encode()
        if SPEC_OFFSET + len(spec_json) > DEVICES_OFFSET:
            raise GpuError("simulated GPU spec too large for the state file header")
        buf = bytearray(DEVICES_OFFSET + int(count) * DEVICE_SIZE)
        HEADER.pack_into(buf, 0, MAGIC, VERSION, int(count), int(bool(clock_permitted)), len(spec_json), float(settle_s))
        buf[SPEC_OFFSET:SPEC_OFFSET + len(spec_json)] = spec_json
        now = (time_source or time.monotonic)()
        idle_power = spec.power_w(spec.idle_sm_clock_mhz, 0.0, 0.0)
        for i in range(int(count)):
            st = DevState()
            st.last_t = st.created_t = now
            st.energy_mj = 0.0
            st.temperature_c = spec.ambient_c + spec.thermal_resistance_c_per_w * idle_power
            st.compute = st.memory = 0.0
            st.avg_w = idle_power
            st.locked_mhz = 0.0
            st.power_limit_w = 0.0  # the card's default
            st.mem_locked_mhz = 0.0  # unlocked: the highest memory clock
            st.pending_mhz = NO_PENDING
            st.pending_at = 0.0
            st.ticks = [-1] * GRID_N
            st.tick_energy = [0.0] * GRID_N
            st.pack_into(buf, DEVICES_OFFSET + i * DEVICE_SIZE)
        write_bytes(state_path, bytes(buf))
        return cls(state_path, time_source=time_source)

    @classmethod
    def open(
        cls,
        state_path: str | os.PathLike[str],
        indices: Sequence[int] | None = None,
        *,
        time_source: Callable[[], float] | None = None,
    ) -> SimGpu:
        """Attach to an existing state file (from any process)."""
        return cls(state_path, indices, time_source=time_source)

    # -- simulator controls ----------------------------------------------------------

    def set_load(self, index: int, compute: float, memory: float) -> None:
        """Set the utilisations (0..1) from now on; the engine calls this per iteration."""
        compute, memory = float(compute), float(memory)
        for what, value in (("compute", compute), ("memory", memory)):
            if not 0.0 <= value <= 1.0:
                raise GpuError(f"simulated {what} utilisation must be within 0..1, got {value}")
        with self._state(index) as (st, _):
            st.compute, st.memory = compute, memory

    def effective_sm_clock_mhz(self, index: int) -> float:
        """The SM clock now: locked (after settle) or default clock, after power capping."""
        with self._state(index) as (st, _):
            return operating(self.spec, st)[0]

    def power_cap_outlook(self, index: int) -> tuple[float, float]:
        """(seconds until the power limiter engages under the current load, the clock it
        then holds): ``(math.inf, clock now)`` when the load fits under the limit, 0 s when
        the cap is already engaged. The engine uses it to price an iteration during which
        the cap engages (``greenllm.sim.engine``)."""
        with self._state(index) as (st, _):
            spec = settings_spec(self.spec, st)
            req = requested_clock(spec, st)
            clock, power, capped = spec.limited_operating_point(
                req, st.compute, st.memory, st.avg_w)
            if capped:
                return 0.0, clock
            headroom = spec.limiter_headroom_s(st.avg_w, power)
            if math.isinf(headroom):
                return headroom, clock
            return headroom, spec.operating_point(req, st.compute, st.memory)[0]

    def memory_clock_ratio(self, index: int) -> float:
        """The memory clock now over the card's highest: HBM bandwidth scales with it
        (``greenllm.sim.perf_model``)."""
        return self.memory_clock_mhz(index) / self.spec.memory_clock_mhz

    def memory_clock_mhz(self, index: int) -> int:
        """The memory clock now: the locked one, else the card's highest."""
        with self._state(index) as (st, _):
            return int(st.mem_locked_mhz) or self.spec.memory_clock_mhz

    def locked_sm_clock_mhz(self, index: int) -> int | None:
        """The locked clock last asked for (settled or not), None when unlocked/reset."""
        with self._state(index) as (st, _):
            value = st.pending_mhz if st.pending_mhz != NO_PENDING else st.locked_mhz
            return int(value) if value > 0 else None

    def load(self, index: int) -> tuple[float, float]:
        """(compute, memory) utilisation as last set."""
        with self._state(index) as (st, _):
            return st.compute, st.memory

    # -- Gpu interface -----------------------------------------------------------------

    @property
    def indices(self) -> tuple[int, ...]:
        return self._indices

    def info(self, index: int) -> GpuInfo:
        self._offset(index)
        return GpuInfo(
            index=index,
            uuid=self.uuid(index),
            name=self.spec.name,
            driver=self.spec.driver,
            power_limit_w=self.spec.power_limit_w,
            supported_sm_clocks_mhz=self._supported,
            memory_clock_mhz=self.spec.memory_clock_mhz,
            default_sm_clock_mhz=self.spec.max_sm_clock_mhz,
            simulated=True,
            power_limit_min_w=self.spec.power_limit_min_w,
            power_limit_max_w=self.spec.power_limit_max_w,
            default_power_limit_w=self.spec.power_limit_w,
            supported_memory_clocks_mhz=self.spec.supported_memory_clocks_mhz,
        )

    def sample(self, index: int, *, energy: bool = True) -> Sample:
        with self._state(index) as (st, now):
            clock, power, reasons = operating(self.spec, st)
            avg = avg_power_w(st, now, power)
            return Sample(
                index=index,
                t_mono=now,
                t_wall=time.time(),
                energy_mj=st.energy_mj if energy else math.nan,
                power_instant_w=power,
                power_avg_w=avg,
                sm_clock_mhz=round(clock),
                mem_clock_mhz=int(st.mem_locked_mhz) or self.spec.memory_clock_mhz,
                temperature_c=st.temperature_c,
                throttle_reasons=reasons,
                utilization_pct=100.0 * max(st.compute, st.memory),
            )

    def instant_power_supported(self, index: int) -> bool:
        self._offset(index)
        return True

    def clock_control_permitted(self, index: int) -> bool:
        self._offset(index)
        return self._clock_permitted

    def lock_sm_clock(self, index: int, mhz: int) -> None:
        self._check_permitted(index, f"locking the SM clock at {mhz} MHz")
        lo, hi = self._supported[0], self._supported[-1]
        if not lo <= mhz <= hi:
            raise GpuError(f"clock {mhz} MHz is outside simulated GPU {index}'s range {lo}-{hi} MHz")
        snapped = min(self._supported, key=lambda c: (abs(c - mhz), c))
        self._set_pending(index, float(snapped))

    def reset_sm_clock(self, index: int) -> None:
        self._check_permitted(index, "resetting the SM clock")
        self._set_pending(index, 0.0)

    def power_limit_w(self, index: int) -> float:
        with self._state(index) as (st, _):
            return st.power_limit_w or self.spec.power_limit_w

    def power_limit_control_permitted(self, index: int) -> bool:
        return self.clock_control_permitted(index)

    def set_power_limit(self, index: int, watts: float) -> None:
        self._check_permitted(index, f"setting the power limit to {watts:g} W")
        lo, hi = self.spec.power_limit_min_w, self.spec.power_limit_max_w
        if not lo <= float(watts) <= hi:
            raise GpuError(f"power limit {watts:g} W is outside simulated GPU {index}'s range "
                           f"{lo:g}-{hi:g} W")
        with self._state(index) as (st, _):
            # Takes effect at once: the limiter acts on its averaged power from now on.
            st.power_limit_w = float(watts)

    def lock_memory_clock(self, index: int, mhz: int) -> None:
        self._check_permitted(index, f"locking the memory clock at {mhz} MHz")
        listed = self.spec.supported_memory_clocks_mhz
        if int(mhz) not in listed:
            raise GpuError(f"memory clock {mhz} MHz is not one simulated GPU {index} lists "
                           f"({', '.join(map(str, listed))} MHz)")
        with self._state(index) as (st, _):
            st.mem_locked_mhz = float(mhz)

    def reset_memory_clock(self, index: int) -> None:
        self._check_permitted(index, "resetting the memory clock")
        with self._state(index) as (st, _):
            st.mem_locked_mhz = 0.0

    def reopen_args(self) -> dict[str, object]:
        return {"backend": "sim", "sim_state_path": str(self.state_path)}

    def close(self) -> None:
        mm = getattr(self, "_mm", None)
        if mm is not None:
            mm.close()
            self._mm = None
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)
            self._fd = None

    # -- internals ------------------------------------------------------------------

    def uuid(self, index: int) -> str:
        # Each state file is its own set of cards: simulated instances running side by
        # side must not look like one GPU to the clock markers (keyed by UUID).
        card = hashlib.sha256(str(self.state_path).encode()).hexdigest()[:8]
        return f"GPU-51a00000-{card[:4]}-4{card[4:7]}-8000-{index:012x}"

    def _check_permitted(self, index: int, what: str) -> None:
        self._offset(index)
        if not self._clock_permitted:
            raise ClockPermissionError(
                f"{what} on GPU {index} is not permitted (simulated non-root user, like NVML's "
                "Insufficient Permissions); run as root or use clock mode 'observe'"
            )

    def _set_pending(self, index: int, mhz: float) -> None:
        with self._state(index) as (st, now):
            st.pending_mhz = mhz
            st.pending_at = now + self.settle_s
            if self.settle_s == 0:
                st.locked_mhz, st.pending_mhz = mhz, NO_PENDING

    def _offset(self, index: int) -> int:
        if index not in self._indices:
            raise GpuError(f"GPU {index} is not one of this run's simulated GPUs {self._indices}")
        return DEVICES_OFFSET + index * DEVICE_SIZE

    @contextmanager
    def _state(self, index: int) -> Iterator[tuple[DevState, float]]:
        offset = self._offset(index)
        if self._mm is None:
            raise GpuError(f"simulated GPUs of {self.state_path} are closed")
        with self._tlock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                st = DevState.unpack(self._mm, offset)
                now = max(self._now(), st.last_t)
                advance(self.spec, st, now)
                yield st, now
                st.pack_into(self._mm, offset)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
