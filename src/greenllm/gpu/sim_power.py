"""The simulated GPU's power model and power limiter: ``SimGpuSpec``, ``PowerLimiter``.

Power model (watts; f = SM clock in MHz, c / m = compute / memory utilisation 0..1)::

    v(f) = v_min + (1 - v_min) * (f - f_min) / (f_max - f_min)   # relative voltage
    g(f) = (f / f_max) * v(f)**2                                 # dynamic ~ f V^2; g(f_max) = 1
    P(f, c, m) = static + hbm * m r + g(f) * (clock_base + compute * c + memory_sm * m r)
    r = memory clock / highest memory clock                      # 1 unless locked lower

``static`` is leakage/board power, ``hbm`` the HBM + IO power of memory traffic (not tied
to the SM clock), and the bracket the SM-side dynamic power at the maximum clock.

The power limit is settable per GPU (``SimGpu.set_power_limit``, within
``power_limit_min_w``..``power_limit_max_w``): the limiter below then caps at that value
instead of the 700 W default (``SimGpuSpec.with_settings``).

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
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

from greenllm.errors import ConfigError


@dataclass(frozen=True)
class SimGpuSpec:
    """Constants of one simulated GPU model (see the module doc for the formula)."""

    name: str = "Simulated NVIDIA H100 80GB HBM3 (greenllm sim)"
    min_sm_clock_mhz: int = 345
    max_sm_clock_mhz: int = 1980
    sm_clock_step_mhz: int = 15
    idle_sm_clock_mhz: int = 345
    memory_clock_mhz: int = 2619  # the highest memory clock, the default
    # The lent H100 lists two memory clocks (shared/device/README.md, 2026-11-25).
    supported_memory_clocks_mhz: tuple[int, ...] = (1593, 2619)
    power_limit_w: float = 700.0  # the default power limit
    # The settable range: the H100 SXM's 700 W maximum is measured; the 200 W minimum is
    # NVIDIA's published H100 SXM floor, not read on the lent card (assumption).
    power_limit_min_w: float = 200.0
    power_limit_max_w: float = 700.0
    # The memory clock in force, set per GPU by SimGpu (None: the highest).
    memory_clock_now_mhz: int | None = None
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

    def __post_init__(self) -> None:
        # From JSON (the state file) the clocks come back as a list: keep the spec hashable.
        object.__setattr__(self, "supported_memory_clocks_mhz",
                           tuple(sorted(int(c) for c in self.supported_memory_clocks_mhz)))

    def with_settings(self, power_limit_w: float | None, memory_clock_mhz: int | None) -> SimGpuSpec:
        """This card with a power limit and memory clock set (None: the default)."""
        return _with_settings(self, power_limit_w, memory_clock_mhz)

    @classmethod
    def h100_sxm(cls) -> SimGpuSpec:
        """An H100 SXM 80GB, calibrated to the lent machine (module doc)."""
        return cls()

    @classmethod
    def h200(cls) -> SimGpuSpec:
        """An H200 SXM 141GB: the H100's die, clocks and 700 W limit with HBM3e.

        Measured on the lent H200 (issue 13, 2026-12-04): 700 W limit, 110 SM clocks
        345-1980 MHz in 15 MHz steps; and (``greenllm doctor``, 2026-12-06) memory clocks
        2201 and 3201 MHz, 3201 by default, power limit settable 200-700 W. Assumed:
        every power constant, which are the H100's fit (docs/calibration.md lists which
        are which).
        """
        return cls(name="Simulated NVIDIA H200 (greenllm sim)", memory_clock_mhz=3201,
                   supported_memory_clocks_mhz=(2201, 3201), profile="h200")

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

    def memory_clock_ratio(self) -> float:
        """The memory clock in force over the highest one (1 at the default)."""
        now = self.memory_clock_now_mhz or self.memory_clock_mhz
        return float(now) / float(self.memory_clock_mhz)

    def power_w(self, mhz: float, compute: float, memory: float) -> float:
        """Uncapped power at clock ``mhz`` and the given utilisations.

        Memory traffic power (both terms) scales with the bytes moved per second, which
        at a given memory utilisation is proportional to the memory clock (assumed:
        constant energy per byte, docs/calibration.md)."""
        mem = memory * self.memory_clock_ratio()
        dynamic = self.clock_base_w + self.compute_w * compute + self.memory_sm_w * mem
        return self.static_w + self.memory_hbm_w * mem + self.clock_factor(mhz) * dynamic

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


@functools.lru_cache(maxsize=256)
def _with_settings(spec: SimGpuSpec, power_limit_w: float | None,
                   memory_clock_mhz: int | None) -> SimGpuSpec:
    limit = spec.power_limit_w if power_limit_w is None else float(power_limit_w)
    if limit == spec.power_limit_w and memory_clock_mhz == spec.memory_clock_now_mhz:
        return spec
    return dataclasses.replace(spec, power_limit_w=limit, memory_clock_now_mhz=memory_clock_mhz)


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
    dyn = spec.clock_base_w + spec.compute_w * c + spec.memory_sm_w * m * spec.memory_clock_ratio()
    for _ in range(50):
        v = spec.v_min_rel + dv * (f - f_min)
        g_prime = (v * v + f * 2.0 * v * dv) / spec.max_sm_clock_mhz
        step = (spec.power_w(f, c, m) - spec.power_limit_w) / (g_prime * dyn)
        f -= step
        if abs(step) < 1e-9:
            break
    f = max(f_min, min(req, f))
    return f, spec.power_limit_w, True
