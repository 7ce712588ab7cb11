"""The state file behind ``SimGpu``: one GPU's state, advanced exactly through time.

Layout: a header (magic, version, count, permissions, settle time, the spec as JSON) and one
fixed binary struct per GPU (``DevState``). ``advance`` brings a state to now.

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

import math
import mmap
import struct

from greenllm.gpu.reasons import GPU_IDLE, REASON_BITS
from greenllm.gpu.sim_power import SimGpuSpec

SW_POWER_CAP = REASON_BITS["sw_power_cap"]

MAGIC = b"GLSIMGPU"
VERSION = 3  # 2: the limiter's averaged power; 3: the power limit and memory clock set
HEADER = struct.Struct("<8sIIIId")  # magic, version, count, clock_permitted, spec_len, settle_s
SPEC_OFFSET = 64
DEVICES_OFFSET = 4096
DEVICE_SIZE = 1024
_GRID_S = 0.05  # energy recorded on this grid for the trailing-1-s average
GRID_N = 32  # ring slots: 32 * 50 ms = 1.6 s > the 1 s window + one cell
_AVG_WINDOW_S = 1.0
_FIELDS = struct.Struct("<12d")
_RING = struct.Struct(f"<{GRID_N}q{GRID_N}d")
NO_PENDING = -1.0


class DevState:
    """One GPU's mutable state, unpacked from / packed into its struct."""

    __slots__ = (
        "avg_w",
        "compute",
        "created_t",
        "energy_mj",
        "last_t",
        "locked_mhz",
        "mem_locked_mhz",
        "memory",
        "pending_at",
        "pending_mhz",
        "power_limit_w",
        "temperature_c",
        "tick_energy",
        "ticks",
    )

    @classmethod
    def unpack(cls, buf: mmap.mmap, offset: int) -> DevState:
        st = cls()
        (st.last_t, st.energy_mj, st.temperature_c, st.compute, st.memory, st.locked_mhz,
         st.pending_mhz, st.pending_at, st.created_t, st.avg_w, st.power_limit_w,
         st.mem_locked_mhz) = _FIELDS.unpack_from(buf, offset)
        ring = _RING.unpack_from(buf, offset + _FIELDS.size)
        st.ticks = list(ring[:GRID_N])
        st.tick_energy = list(ring[GRID_N:])
        return st

    def pack_into(self, buf: mmap.mmap | bytearray, offset: int) -> None:
        _FIELDS.pack_into(
            buf, offset, self.last_t, self.energy_mj, self.temperature_c, self.compute,
            self.memory, self.locked_mhz, self.pending_mhz, self.pending_at, self.created_t,
            self.avg_w, self.power_limit_w, self.mem_locked_mhz,
        )
        _RING.pack_into(buf, offset + _FIELDS.size, *self.ticks, *self.tick_energy)


def settings_spec(spec: SimGpuSpec, st: DevState) -> SimGpuSpec:
    """The card's spec with this GPU's power limit and memory clock in force (0 in the
    state: the card's default)."""
    if not st.power_limit_w and not st.mem_locked_mhz:
        return spec  # the defaults: no lookup (this runs on every state access)
    # keyed by identity, not by hashing the spec's ~30 fields on every access
    key = (id(spec), st.power_limit_w, st.mem_locked_mhz)
    hit = _SETTINGS_CACHE.get(key)
    if hit is None or hit[0] is not spec:
        hit = (spec, spec.with_settings(st.power_limit_w or None, int(st.mem_locked_mhz) or None))
        if len(_SETTINGS_CACHE) > 256:
            _SETTINGS_CACHE.clear()
        _SETTINGS_CACHE[key] = hit
    return hit[1]


_SETTINGS_CACHE: dict[tuple[int, float, float], tuple[SimGpuSpec, SimGpuSpec]] = {}


def requested_clock(spec: SimGpuSpec, st: DevState) -> float:
    """The clock asked for in the current state (locked, boost or idle), before the cap."""
    busy = max(st.compute, st.memory) >= spec.busy_threshold
    if st.locked_mhz > 0 and (busy or spec.locked_clock_holds_when_idle):
        return st.locked_mhz
    return float(spec.max_sm_clock_mhz if busy else spec.idle_sm_clock_mhz)


def operating(spec: SimGpuSpec, st: DevState) -> tuple[float, float, int]:
    """(clock MHz, power W, reasons mask) in the current state."""
    spec = settings_spec(spec, st)
    busy = max(st.compute, st.memory) >= spec.busy_threshold
    reasons = 0 if busy else GPU_IDLE
    clock, power, capped = spec.limited_operating_point(
        requested_clock(spec, st), st.compute, st.memory, st.avg_w)
    if capped:
        reasons |= SW_POWER_CAP
    return clock, power, reasons


def _integrate(spec: SimGpuSpec, st: DevState, t_a: float, t_b: float) -> None:
    """Advance over [t_a, t_b] at constant load: split where the limiter engages."""
    spec = settings_spec(spec, st)
    _, power, _ = operating(spec, st)
    headroom = spec.limiter_headroom_s(st.avg_w, power)
    if 0.0 < headroom < t_b - t_a:
        _integrate_power(spec, st, t_a, t_a + headroom, power)
        st.avg_w = spec.power_limit_w  # engaged: from here the capped operating point
        t_a += headroom
        _, power, _ = operating(spec, st)
    _integrate_power(spec, st, t_a, t_b, power)


def _integrate_power(spec: SimGpuSpec, st: DevState, t_a: float, t_b: float,
                     power: float) -> None:
    """Advance energy, temperature, the energy grid and the limiter's average over
    [t_a, t_b] at constant power."""
    st.avg_w = spec.averaged_power_after(st.avg_w, power, t_b - t_a)
    e_a = st.energy_mj
    k_last = math.floor(t_b / _GRID_S)
    k_first = max(math.floor(t_a / _GRID_S) + 1, k_last - GRID_N + 1)
    for k in range(k_first, k_last + 1):
        st.ticks[k % GRID_N] = k
        st.tick_energy[k % GRID_N] = e_a + power * (k * _GRID_S - t_a) * 1000.0
    st.energy_mj = e_a + power * (t_b - t_a) * 1000.0
    t_eq = spec.ambient_c + spec.thermal_resistance_c_per_w * power
    st.temperature_c = t_eq + (st.temperature_c - t_eq) * math.exp(-(t_b - t_a) / spec.thermal_tau_s)


def advance(spec: SimGpuSpec, st: DevState, now: float) -> None:
    """Bring the state to time ``now``; a pending lock/reset takes effect at its instant."""
    while st.last_t < now:
        if st.pending_mhz != NO_PENDING and st.pending_at <= st.last_t:
            st.locked_mhz, st.pending_mhz = st.pending_mhz, NO_PENDING
        end = now
        if st.pending_mhz != NO_PENDING:
            end = min(now, st.pending_at)
        _integrate(spec, st, st.last_t, end)
        st.last_t = end
    if st.pending_mhz != NO_PENDING and st.pending_at <= now:
        st.locked_mhz, st.pending_mhz = st.pending_mhz, NO_PENDING


def _energy_at(st: DevState, t: float) -> float | None:
    """Counter value (mJ) at a past time ``t`` from the grid, or None if not recorded."""
    if t <= st.created_t:
        return 0.0
    k0 = math.floor(t / _GRID_S)
    k1 = k0 + 1
    if st.ticks[k1 % GRID_N] != k1:
        return None
    t1, e1 = k1 * _GRID_S, st.tick_energy[k1 % GRID_N]
    if k0 * _GRID_S <= st.created_t:
        t0, e0 = st.created_t, 0.0
    elif st.ticks[k0 % GRID_N] == k0:
        t0, e0 = k0 * _GRID_S, st.tick_energy[k0 % GRID_N]
    else:
        return None
    return e0 + (e1 - e0) * (t - t0) / (t1 - t0)


def avg_power_w(st: DevState, now: float, instant_w: float) -> float:
    start = now - _AVG_WINDOW_S
    if start <= st.created_t:
        span = now - st.created_t
        return st.energy_mj / 1000.0 / span if span > 1e-6 else instant_w
    e_start = _energy_at(st, start)
    if e_start is None:  # cannot happen with a 1.6 s ring; be safe rather than wrong
        return instant_w
    return (st.energy_mj - e_start) / 1000.0 / _AVG_WINDOW_S
