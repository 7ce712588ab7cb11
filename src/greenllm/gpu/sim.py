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

Power model (watts; f = SM clock in MHz, c / m = compute / memory utilisation 0..1)::

    v(f) = v_min + (1 - v_min) * (f - f_min) / (f_max - f_min)   # relative voltage
    g(f) = (f / f_max) * v(f)**2                                 # dynamic ~ f V^2; g(f_max) = 1
    P(f, c, m) = static + hbm * m + g(f) * (clock_base + compute * c + memory_sm * m)

``static`` is leakage/board power, ``hbm`` the HBM + IO power of memory traffic (not tied
to the SM clock), and the bracket the SM-side dynamic power at the maximum clock.

Power limiter: it acts on *averaged* power, not instant power. ``A`` is the exponential
moving average of the power drawn, time constant ``tau`` (``power_limit_tau_s``)::

    dA/dt = (P_drawn - A) / tau

While ``A < limit`` the card runs at the requested clock even if ``P`` there exceeds the
limit: a short burst draws more than the limit. When ``A`` reaches the limit and ``P`` at
the requested clock is still above it, the clock falls (continuously) until
``P == limit`` (which holds ``A`` at the limit) and the reasons include ``sw_power_cap``;
once the load fits under the limit at the requested clock the cap releases. A load
of constant power ``P > limit`` starting from ``A0`` runs unthrottled for
``tau * ln((P - A0) / (P - limit))``, then sits at the limit: sustained load settles at
the cap. If even the lowest clock is over the limit, the lowest clock runs and the power
stays above the limit. ``tau = 0`` gives an instant cap. The same law runs in virtual
time (``PowerLimiter``, used by ``greenllm.sim.offline``).

Calibration (H100 SXM facts in shared/device/README.md, 2026-11-25): idle 73 W at
345 MHz; 700 W cap; bf16 matmul loop (c=1, m=0) over the cap at 1980 MHz, throttling to
~1300 MHz (seen: 1140-1485); copy loop (c=0, m=1) 385 W at 1980 MHz. The split between
static and dynamic terms and ``v_min`` are assumptions (not measured) chosen to meet
those points. Clock behaviour: unlocked and idle -> 345 MHz (``gpu_idle``); unlocked and
busy (max(c, m) >= busy_threshold) -> 1980 MHz, subject to the cap; locked -> the locked
clock, idle or busy (``locked_clock_holds_when_idle``), subject to the cap. A lock or reset
takes effect ``settle_s`` after the call.

Energy counter: the exact integral of the piecewise-constant power (power changes only
at state changes, at the settle instant and when the limiter engages: the interval is
split there); a read integrates up to now (unlike NVML's
100 ms updates). Instant power is the power now. The "1 s average" power is the trailing
1 s mean, computed from the counter recorded on a 50 ms grid (exact up to the power
variation within one 50 ms cell). Temperature: first order,
``T -> ambient + R * P`` with time constant ``tau`` (exact for piecewise-constant P);
no thermal throttling is modelled.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import json
import math
import mmap
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from greenllm.atomic import write_bytes
from greenllm.errors import ClockPermissionError, ConfigError, GpuError
from greenllm.gpu.base import Gpu, GpuInfo, Sample
from greenllm.gpu.reasons import GPU_IDLE, REASON_BITS

SW_POWER_CAP = REASON_BITS["sw_power_cap"]


@dataclass(frozen=True)
class SimGpuSpec:
    """Constants of one simulated GPU model (see the module doc for the formula)."""

    name: str = "Simulated NVIDIA H100 80GB HBM3 (greenllm sim)"
    min_sm_clock_mhz: int = 345
    max_sm_clock_mhz: int = 1980
    sm_clock_step_mhz: int = 15
    idle_sm_clock_mhz: int = 345
    memory_clock_mhz: int = 2619
    power_limit_w: float = 700.0
    # Time constant of the power limiter's averaging (module doc). NVIDIA does not publish
    # it: NVML only says the power management algorithm kicks in when the card's draw
    # reaches the limit, and reports instant power apart from power averaged over 1 s
    # (nvmlDeviceGetPowerUsage, Ampere and newer). The lent H100 bounds it (docs/h100.md,
    # docs/calibration.md): vLLM's 10-50 ms compute-bound prefill bursts drew 770-890 W
    # with the clock at p5 1710 MHz (from a ~250-470 W average, a 50 ms burst at ~850 W
    # passes for tau >= ~35 ms), while 2 s matmul phases were held at 700 W and read at
    # most 976 W instant at 20 ms sampling (tau of ~1 s would let ~1300 W through for
    # hundreds of ms): tens of ms. 40 ms: the low end of that range; the reference's
    # medians are flat for 20-40 ms and max throughput worsens above (docs/calibration.md).
    power_limit_tau_s: float = 0.04
    static_w: float = 69.3  # leakage + board: idle 73 W minus clock-tree power at 345 MHz
    # clock tree / idle SM activity at g(f) = 1: an idle card held at 1980 MHz draws
    # static + this = 119 W. Fit to the mean power of the reference load points
    # (reports/reference/h100-2026-11-25, docs/calibration.md); was 95 W (a guess).
    clock_base_w: float = 50.0
    compute_w: float = 1228.0  # compute = 1 at f_max (uncapped): matmul throttles to ~1300 MHz
    # Memory = 1 at f_max: SM/L2 side and HBM + IO (SM-clock independent); their sum
    # makes the copy loop 385 W at 1980 MHz. The split between the two is assumed.
    memory_sm_w: float = 124.0
    memory_hbm_w: float = 142.0
    v_min_rel: float = 0.65  # voltage at f_min relative to f_max (assumption)
    busy_threshold: float = 0.01
    ambient_c: float = 30.0
    thermal_resistance_c_per_w: float = 0.06  # 700 W -> 72 C
    thermal_tau_s: float = 30.0
    locked_clock_holds_when_idle: bool = True
    driver: str = "greenllm-sim"
    # The greenllm GPU profile (config/measure/gpu/<profile>.yaml) this spec simulates;
    # the simulated engine picks its performance spec (greenllm.sim.hardware) by it.
    profile: str = "h100-sxm"

    @classmethod
    def h100_sxm(cls) -> SimGpuSpec:
        """An H100 SXM 80GB, calibrated to the lent machine (module doc)."""
        return cls()

    @classmethod
    def h200(cls) -> SimGpuSpec:
        """An H200 SXM 141GB: the H100's die, clocks and 700 W limit with HBM3e.

        Measured on the lent H200 (issue 13, 2026-12-04): 700 W limit, 110 SM clocks
        345-1980 MHz in 15 MHz steps. Assumed: the memory clock (3201 MHz, NVIDIA's
        HBM3e figure; ``greenllm doctor`` prints the card's own) and every power constant,
        which are the H100's fit (docs/calibration.md lists which are which).
        """
        return cls(name="Simulated NVIDIA H200 (greenllm sim)", memory_clock_mhz=3201,
                   profile="h200")

    @classmethod
    def for_profile(cls, profile: str) -> SimGpuSpec:
        """The spec of a greenllm GPU profile name (``gpu.name``), e.g. ``h200``."""
        makers = {"h100-sxm": cls.h100_sxm, "h200": cls.h200}
        if profile not in makers:
            raise ConfigError(f"no simulated GPU for gpu profile {profile!r} "
                              f"(simulated: {', '.join(makers)})")
        return makers[profile]()

    def supported_sm_clocks_mhz(self) -> tuple[int, ...]:
        return tuple(range(self.min_sm_clock_mhz, self.max_sm_clock_mhz + 1, self.sm_clock_step_mhz))

    def clock_factor(self, mhz: float) -> float:
        """g(f) = (f / f_max) * v(f)^2, the relative dynamic power of clock f."""
        span = self.max_sm_clock_mhz - self.min_sm_clock_mhz
        v = self.v_min_rel + (1.0 - self.v_min_rel) * (mhz - self.min_sm_clock_mhz) / span
        return (mhz / self.max_sm_clock_mhz) * v * v

    def power_w(self, mhz: float, compute: float, memory: float) -> float:
        """Uncapped power at clock ``mhz`` and the given utilisations."""
        dynamic = self.clock_base_w + self.compute_w * compute + self.memory_sm_w * memory
        return self.static_w + self.memory_hbm_w * memory + self.clock_factor(mhz) * dynamic

    def operating_point(self, requested_mhz: float, compute: float, memory: float) -> tuple[float, float, bool]:
        """(clock MHz, power W, capped) with the cap engaged: the clock the limiter holds
        once the averaged power has reached the limit (the requested clock if that fits)."""
        return _operating_point(self, float(requested_mhz), float(compute), float(memory))

    def limited_operating_point(
        self, requested_mhz: float, compute: float, memory: float, avg_w: float
    ) -> tuple[float, float, bool]:
        """(clock MHz, power W, capped) when the limiter's averaged power is ``avg_w``."""
        req = float(requested_mhz)
        power = self.power_w(req, compute, memory)
        if power > self.power_limit_w and self._engaged(avg_w):
            return self.operating_point(req, compute, memory)
        return req, power, False

    def limiter_headroom_s(self, avg_w: float, power_w: float) -> float:
        """Seconds of drawing ``power_w`` until the averaged power (now ``avg_w``) reaches
        the limit: ``math.inf`` when ``power_w`` fits under it, 0 when the cap is engaged."""
        limit = self.power_limit_w
        if power_w <= limit:
            return math.inf
        if self._engaged(avg_w):
            return 0.0
        return self.power_limit_tau_s * math.log((power_w - avg_w) / (power_w - limit))

    def averaged_power_after(self, avg_w: float, power_w: float, dt: float) -> float:
        """The limiter's averaged power after drawing ``power_w`` for ``dt`` seconds."""
        if self.power_limit_tau_s <= 0:
            return power_w
        return power_w + (avg_w - power_w) * math.exp(-dt / self.power_limit_tau_s)

    def _engaged(self, avg_w: float) -> bool:
        return self.power_limit_tau_s <= 0 or avg_w >= self.power_limit_w - _ENGAGED_TOL_W


_ENGAGED_TOL_W = 1e-6  # the averaged power counts as at the limit within this


class PowerLimiter:
    """``SimGpu``'s power limiter for one GPU in virtual time (``greenllm.sim.offline``).

    Holds the averaged power; the caller advances it with every stretch of constant power
    (``draw``), so it integrates over simulated time. Starts at ``avg_w`` (default: the
    idle card's power).
    """

    __slots__ = ("avg_w", "spec")

    def __init__(self, spec: SimGpuSpec, avg_w: float | None = None) -> None:
        self.spec = spec
        self.avg_w = (spec.power_w(spec.idle_sm_clock_mhz, 0.0, 0.0)
                      if avg_w is None else float(avg_w))

    def operating_point(self, requested_mhz: float, compute: float,
                        memory: float) -> tuple[float, float, bool]:
        """(clock MHz, power W, capped) now."""
        return self.spec.limited_operating_point(requested_mhz, compute, memory, self.avg_w)

    def headroom_s(self, power_w: float) -> float:
        """Seconds of drawing ``power_w`` before the cap engages (``math.inf``: never)."""
        return self.spec.limiter_headroom_s(self.avg_w, power_w)

    def draw(self, power_w: float, dt: float, *, engages: bool = False) -> None:
        """Advance by ``dt`` seconds of drawing ``power_w``; ``engages``: this stretch ends
        where the averaged power reaches the limit (``headroom_s``), so set it exactly."""
        if engages:
            self.avg_w = self.spec.power_limit_w
        else:
            self.avg_w = self.spec.averaged_power_after(self.avg_w, power_w, dt)


@functools.lru_cache(maxsize=4096)
def _operating_point(spec: SimGpuSpec, req: float, c: float, m: float) -> tuple[float, float, bool]:
    power = spec.power_w(req, c, m)
    if power <= spec.power_limit_w:
        return req, power, False
    f_min = float(spec.min_sm_clock_mhz)
    if spec.power_w(f_min, c, m) >= spec.power_limit_w or req <= f_min:
        return min(req, f_min), spec.power_w(min(req, f_min), c, m), True
    # P(f) is increasing and convex in f, so Newton from the right converges monotonically.
    f = req
    span = spec.max_sm_clock_mhz - spec.min_sm_clock_mhz
    dv = (1.0 - spec.v_min_rel) / span
    dyn = spec.clock_base_w + spec.compute_w * c + spec.memory_sm_w * m
    for _ in range(50):
        v = spec.v_min_rel + dv * (f - f_min)
        g_prime = (v * v + f * 2.0 * v * dv) / spec.max_sm_clock_mhz
        step = (spec.power_w(f, c, m) - spec.power_limit_w) / (g_prime * dyn)
        f -= step
        if abs(step) < 1e-9:
            break
    f = max(f_min, min(req, f))
    return f, spec.power_limit_w, True


# --- the state file ---------------------------------------------------------------

_MAGIC = b"GLSIMGPU"
_VERSION = 2  # 2: the power limiter's averaged power in the device struct
_HEADER = struct.Struct("<8sIIIId")  # magic, version, count, clock_permitted, spec_len, settle_s
_SPEC_OFFSET = 64
_DEVICES_OFFSET = 4096
_DEVICE_SIZE = 1024
_GRID_S = 0.05  # energy recorded on this grid for the trailing-1-s average
_GRID_N = 32  # ring slots: 32 * 50 ms = 1.6 s > the 1 s window + one cell
_AVG_WINDOW_S = 1.0
_FIELDS = struct.Struct("<10d")
_RING = struct.Struct(f"<{_GRID_N}q{_GRID_N}d")
_NO_PENDING = -1.0


class _DevState:
    """One GPU's mutable state, unpacked from / packed into its struct."""

    __slots__ = (
        "avg_w",
        "compute",
        "created_t",
        "energy_mj",
        "last_t",
        "locked_mhz",
        "memory",
        "pending_at",
        "pending_mhz",
        "temperature_c",
        "tick_energy",
        "ticks",
    )

    @classmethod
    def unpack(cls, buf: mmap.mmap, offset: int) -> _DevState:
        st = cls()
        (st.last_t, st.energy_mj, st.temperature_c, st.compute, st.memory, st.locked_mhz,
         st.pending_mhz, st.pending_at, st.created_t, st.avg_w) = _FIELDS.unpack_from(buf, offset)
        ring = _RING.unpack_from(buf, offset + _FIELDS.size)
        st.ticks = list(ring[:_GRID_N])
        st.tick_energy = list(ring[_GRID_N:])
        return st

    def pack_into(self, buf: mmap.mmap | bytearray, offset: int) -> None:
        _FIELDS.pack_into(
            buf, offset, self.last_t, self.energy_mj, self.temperature_c, self.compute,
            self.memory, self.locked_mhz, self.pending_mhz, self.pending_at, self.created_t,
            self.avg_w,
        )
        _RING.pack_into(buf, offset + _FIELDS.size, *self.ticks, *self.tick_energy)


def _requested(spec: SimGpuSpec, st: _DevState) -> float:
    """The clock asked for in the current state (locked, boost or idle), before the cap."""
    busy = max(st.compute, st.memory) >= spec.busy_threshold
    if st.locked_mhz > 0 and (busy or spec.locked_clock_holds_when_idle):
        return st.locked_mhz
    return float(spec.max_sm_clock_mhz if busy else spec.idle_sm_clock_mhz)


def _operating(spec: SimGpuSpec, st: _DevState) -> tuple[float, float, int]:
    """(clock MHz, power W, reasons mask) in the current state."""
    busy = max(st.compute, st.memory) >= spec.busy_threshold
    reasons = 0 if busy else GPU_IDLE
    clock, power, capped = spec.limited_operating_point(
        _requested(spec, st), st.compute, st.memory, st.avg_w)
    if capped:
        reasons |= SW_POWER_CAP
    return clock, power, reasons


def _integrate(spec: SimGpuSpec, st: _DevState, t_a: float, t_b: float) -> None:
    """Advance over [t_a, t_b] at constant load: split where the limiter engages."""
    _, power, _ = _operating(spec, st)
    headroom = spec.limiter_headroom_s(st.avg_w, power)
    if 0.0 < headroom < t_b - t_a:
        _integrate_power(spec, st, t_a, t_a + headroom, power)
        st.avg_w = spec.power_limit_w  # engaged: from here the capped operating point
        t_a += headroom
        _, power, _ = _operating(spec, st)
    _integrate_power(spec, st, t_a, t_b, power)


def _integrate_power(spec: SimGpuSpec, st: _DevState, t_a: float, t_b: float,
                     power: float) -> None:
    """Advance energy, temperature, the energy grid and the limiter's average over
    [t_a, t_b] at constant power."""
    st.avg_w = spec.averaged_power_after(st.avg_w, power, t_b - t_a)
    e_a = st.energy_mj
    k_last = math.floor(t_b / _GRID_S)
    k_first = max(math.floor(t_a / _GRID_S) + 1, k_last - _GRID_N + 1)
    for k in range(k_first, k_last + 1):
        st.ticks[k % _GRID_N] = k
        st.tick_energy[k % _GRID_N] = e_a + power * (k * _GRID_S - t_a) * 1000.0
    st.energy_mj = e_a + power * (t_b - t_a) * 1000.0
    t_eq = spec.ambient_c + spec.thermal_resistance_c_per_w * power
    st.temperature_c = t_eq + (st.temperature_c - t_eq) * math.exp(-(t_b - t_a) / spec.thermal_tau_s)


def _advance(spec: SimGpuSpec, st: _DevState, now: float) -> None:
    """Bring the state to time ``now``; a pending lock/reset takes effect at its instant."""
    while st.last_t < now:
        if st.pending_mhz != _NO_PENDING and st.pending_at <= st.last_t:
            st.locked_mhz, st.pending_mhz = st.pending_mhz, _NO_PENDING
        end = now
        if st.pending_mhz != _NO_PENDING:
            end = min(now, st.pending_at)
        _integrate(spec, st, st.last_t, end)
        st.last_t = end
    if st.pending_mhz != _NO_PENDING and st.pending_at <= now:
        st.locked_mhz, st.pending_mhz = st.pending_mhz, _NO_PENDING


def _energy_at(st: _DevState, t: float) -> float | None:
    """Counter value (mJ) at a past time ``t`` from the grid, or None if not recorded."""
    if t <= st.created_t:
        return 0.0
    k0 = math.floor(t / _GRID_S)
    k1 = k0 + 1
    if st.ticks[k1 % _GRID_N] != k1:
        return None
    t1, e1 = k1 * _GRID_S, st.tick_energy[k1 % _GRID_N]
    if k0 * _GRID_S <= st.created_t:
        t0, e0 = st.created_t, 0.0
    elif st.ticks[k0 % _GRID_N] == k0:
        t0, e0 = k0 * _GRID_S, st.tick_energy[k0 % _GRID_N]
    else:
        return None
    return e0 + (e1 - e0) * (t - t0) / (t1 - t0)


def _avg_power_w(st: _DevState, now: float, instant_w: float) -> float:
    start = now - _AVG_WINDOW_S
    if start <= st.created_t:
        span = now - st.created_t
        return st.energy_mj / 1000.0 / span if span > 1e-6 else instant_w
    e_start = _energy_at(st, start)
    if e_start is None:  # cannot happen with a 1.6 s ring; be safe rather than wrong
        return instant_w
    return (st.energy_mj - e_start) / 1000.0 / _AVG_WINDOW_S


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
            if size < _DEVICES_OFFSET:
                raise GpuError(f"{self.state_path} is not a greenllm SimGpu state file (too short)")
            self._mm = mmap.mmap(fd, size, access=mmap.ACCESS_WRITE)
            magic, version, count, permitted, spec_len, settle_s = _HEADER.unpack_from(self._mm, 0)
            if magic != _MAGIC or version != _VERSION:
                raise GpuError(f"{self.state_path} is not a greenllm SimGpu state file (v{_VERSION})")
            if size < _DEVICES_OFFSET + count * _DEVICE_SIZE:
                raise GpuError(f"{self.state_path} is truncated")
            spec_json = bytes(self._mm[_SPEC_OFFSET:_SPEC_OFFSET + spec_len]).decode()
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
        if _SPEC_OFFSET + len(spec_json) > _DEVICES_OFFSET:
            raise GpuError("simulated GPU spec too large for the state file header")
        buf = bytearray(_DEVICES_OFFSET + int(count) * _DEVICE_SIZE)
        _HEADER.pack_into(buf, 0, _MAGIC, _VERSION, int(count), int(bool(clock_permitted)), len(spec_json), float(settle_s))
        buf[_SPEC_OFFSET:_SPEC_OFFSET + len(spec_json)] = spec_json
        now = (time_source or time.monotonic)()
        idle_power = spec.power_w(spec.idle_sm_clock_mhz, 0.0, 0.0)
        for i in range(int(count)):
            st = _DevState()
            st.last_t = st.created_t = now
            st.energy_mj = 0.0
            st.temperature_c = spec.ambient_c + spec.thermal_resistance_c_per_w * idle_power
            st.compute = st.memory = 0.0
            st.avg_w = idle_power
            st.locked_mhz = 0.0
            st.pending_mhz = _NO_PENDING
            st.pending_at = 0.0
            st.ticks = [-1] * _GRID_N
            st.tick_energy = [0.0] * _GRID_N
            st.pack_into(buf, _DEVICES_OFFSET + i * _DEVICE_SIZE)
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
            return _operating(self.spec, st)[0]

    def power_cap_outlook(self, index: int) -> tuple[float, float]:
        """(seconds until the power limiter engages under the current load, the clock it
        then holds): ``(math.inf, clock now)`` when the load fits under the limit, 0 s when
        the cap is already engaged. The engine uses it to price an iteration during which
        the cap engages (``greenllm.sim.engine``)."""
        with self._state(index) as (st, _):
            req = _requested(self.spec, st)
            clock, power, capped = self.spec.limited_operating_point(
                req, st.compute, st.memory, st.avg_w)
            if capped:
                return 0.0, clock
            headroom = self.spec.limiter_headroom_s(st.avg_w, power)
            if math.isinf(headroom):
                return headroom, clock
            return headroom, self.spec.operating_point(req, st.compute, st.memory)[0]

    def locked_sm_clock_mhz(self, index: int) -> int | None:
        """The locked clock last asked for (settled or not), None when unlocked/reset."""
        with self._state(index) as (st, _):
            value = st.pending_mhz if st.pending_mhz != _NO_PENDING else st.locked_mhz
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
        )

    def sample(self, index: int, *, energy: bool = True) -> Sample:
        with self._state(index) as (st, now):
            clock, power, reasons = _operating(self.spec, st)
            avg = _avg_power_w(st, now, power)
            return Sample(
                index=index,
                t_mono=now,
                t_wall=time.time(),
                energy_mj=st.energy_mj if energy else math.nan,
                power_instant_w=power,
                power_avg_w=avg,
                sm_clock_mhz=round(clock),
                mem_clock_mhz=self.spec.memory_clock_mhz,
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
                st.locked_mhz, st.pending_mhz = mhz, _NO_PENDING

    def _offset(self, index: int) -> int:
        if index not in self._indices:
            raise GpuError(f"GPU {index} is not one of this run's simulated GPUs {self._indices}")
        return _DEVICES_OFFSET + index * _DEVICE_SIZE

    @contextmanager
    def _state(self, index: int) -> Iterator[tuple[_DevState, float]]:
        offset = self._offset(index)
        if self._mm is None:
            raise GpuError(f"simulated GPUs of {self.state_path} are closed")
        with self._tlock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                st = _DevState.unpack(self._mm, offset)
                now = max(self._now(), st.last_t)
                _advance(self.spec, st, now)
                yield st, now
                st.pack_into(self._mm, offset)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
