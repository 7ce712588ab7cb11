"""Telemetry: a sampler thread, and energy/clock statistics over time windows.

``TelemetrySampler(gpu, period_s=0.02)`` reads every GPU each period (one "tick") and
keeps the readings in memory; ``frame()`` returns them as a DataFrame, one row per
(tick, GPU), columns::

    gpu, tick, t_mono, t_wall, energy_mj, power_instant_w, power_avg_w, sm_clock_mhz,
    mem_clock_mhz, temperature_c, throttle_reasons (NVML bitmask), utilization_pct,
    power_instant_supported

It samples once synchronously on ``start()`` and once more on ``stop()``, so any window
between start and stop is bracketed by samples. Cost: one ``Gpu.sample`` per GPU per
tick plus a tuple append; CPU time per tick is measured (``cpu_s_per_tick``) and
``benchmarks/sampler_bench.py`` prints it (on SimGpu about 30-60 us per GPU sample on
this project's 2-core CI machine; NVML calls are of the same order).

``window_energy(frame, t0, t1)``: energy in [t0, t1] (``time.monotonic()`` seconds) summed
over GPUs, from the energy counter (the reference) and from the trapezoid integral of
instant power (a cross-check).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from greenllm.atomic import write_parquet
from greenllm.errors import GpuError, GreenllmError
from greenllm.gpu.base import Gpu
from greenllm.gpu.energy_read import EnergyReadPlan, plan_energy_reads
from greenllm.gpu.reasons import decode_reasons

if TYPE_CHECKING:  # pandas is imported lazily: the sampler itself doesn't need it
    import pandas as pd

COLUMNS = (
    "gpu", "tick", "t_mono", "t_wall", "energy_mj", "power_instant_w", "power_avg_w",
    "sm_clock_mhz", "mem_clock_mhz", "temperature_c", "throttle_reasons", "utilization_pct",
    "power_instant_supported",
)

DEFAULT_COUNTER_PERIOD_S = 0.1  # nvmlDeviceGetTotalEnergyConsumption update period on H100
DEFAULT_DISAGREEMENT_TOL = 0.02


class TelemetrySampler:
    """Background sampler of ``gpu`` (all its GPUs, or ``indices``); a context manager."""

    def __init__(self, gpu: Gpu, period_s: float = 0.02, *, indices: Sequence[int] | None = None,
                 energy_period_s: float | str = 0.0) -> None:
        if not (isinstance(period_s, (int, float)) and period_s > 0 and math.isfinite(period_s)):
            raise GpuError(f"telemetry period must be > 0 s, got {period_s!r}")
        self.gpu = gpu
        self.period_s = float(period_s)
        # The energy counter is read at most this often (always on the first and last
        # tick, so every window inside the run stays bracketed). Default 0: every tick.
        # On H100 (driver 580) one read costs ~4 ms of CPU, so with many GPUs per
        # sampler a longer period (<= the counter's 100 ms update period) keeps the
        # sampler within its tick; the price is coarser timing of counter updates at
        # window edges (docs/gpu.md). "auto": time a few reads on start() and choose
        # the period from that cost (greenllm.gpu.energy_read; the result in energy_plan).
        self._auto_energy = energy_period_s == "auto"
        self.energy_period_s = 0.0 if self._auto_energy else float(energy_period_s)
        self.energy_plan: EnergyReadPlan | None = None
        self._energy_due = -math.inf
        self.indices = tuple(gpu.indices if indices is None else indices)
        self._instant = {i: gpu.instant_power_supported(i) for i in self.indices}
        self._rows: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._tick = 0
        self._cpu_s = 0.0
        self._started_at: float | None = None
        self._stopped_at: float | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> TelemetrySampler:
        if self._thread is not None:
            raise GpuError("telemetry sampler already started")
        if self._auto_energy:
            self.energy_plan = plan_energy_reads(self.gpu, self.indices, self.period_s)
            self.energy_period_s = self.energy_plan.energy_period_s
        self._started_at = time.monotonic()
        self._take_tick()  # synchronous: a broken GPU fails here, not silently later
        self._thread = threading.Thread(target=self._run, name="greenllm-telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread, take a final sample, and re-raise a sampling error if any."""
        if self._thread is None:
            raise GpuError("telemetry sampler was not started")
        if self._stopped_at is None:
            self._stop.set()
            self._thread.join()
            if self._error is None:
                self._take_tick(force_energy=True)
            self._stopped_at = time.monotonic()
        if self._error is not None:
            err = self._error
            if isinstance(err, GreenllmError):
                raise err
            raise GpuError(f"telemetry sampling failed: {type(err).__name__}: {err}") from err

    def __enter__(self) -> TelemetrySampler:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.stop()
        else:  # don't mask the body's exception with a sampling one
            try:
                self.stop()
            except GreenllmError:
                pass

    def _run(self) -> None:
        next_t = time.monotonic() + self.period_s
        try:
            while not self._stop.wait(max(0.0, next_t - time.monotonic())):
                self._take_tick()
                next_t += self.period_s
                now = time.monotonic()
                if next_t < now:  # fell behind (GIL, slow NVML): skip, don't burst
                    next_t = now + self.period_s
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self._error = exc

    def _take_tick(self, force_energy: bool = False) -> None:
        cpu0 = time.thread_time()
        now = time.monotonic()
        energy = force_energy or now >= self._energy_due
        if energy:
            # half a period early: a tick landing just before the due time still counts
            self._energy_due = now + self.energy_period_s - self.period_s / 2
        rows = []
        for i in self.indices:
            s = self.gpu.sample(i, energy=energy)
            rows.append((
                i, self._tick, s.t_mono, s.t_wall, s.energy_mj, s.power_instant_w, s.power_avg_w,
                s.sm_clock_mhz, s.mem_clock_mhz, s.temperature_c, s.throttle_reasons,
                np.nan if s.utilization_pct is None else s.utilization_pct, self._instant[i],
            ))
        with self._lock:
            self._rows.extend(rows)
            self._tick += 1
        self._cpu_s += time.thread_time() - cpu0

    # -- results ---------------------------------------------------------------------

    @property
    def n_ticks(self) -> int:
        return self._tick

    @property
    def cpu_s_per_tick(self) -> float:
        """Mean CPU time of one tick (all GPUs) in the sampling thread."""
        return self._cpu_s / self._tick if self._tick else math.nan

    @property
    def achieved_period_s(self) -> float:
        end = self._stopped_at if self._stopped_at is not None else time.monotonic()
        if self._started_at is None or self._tick < 2:
            return math.nan
        return (end - self._started_at) / (self._tick - 1)

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        with self._lock:
            rows = list(self._rows)
        frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
        return frame.astype({
            "gpu": "int64", "tick": "int64", "sm_clock_mhz": "int64", "mem_clock_mhz": "int64",
            "throttle_reasons": "int64", "power_instant_supported": "bool",
        })

    def to_parquet(self, path: str) -> None:
        write_parquet(path, self.frame())


# --- windows -----------------------------------------------------------------------


@dataclass(frozen=True)
class WindowEnergy:
    """Energy over one window, summed over the GPUs of the frame."""

    t0: float  # window start, time.monotonic() s
    t1: float
    window_s: float
    energy_j: float  # energy-counter delta (reference), counter interpolated at t0, t1
    energy_integral_j: float  # trapezoid integral of instant power (cross-check)
    disagreement: float  # (energy_integral_j - energy_j) / energy_j; nan if energy_j == 0
    # Expected 1-sigma relative error of the integral from sampling the power (see
    # ``integral_noise``): a disagreement within ~2x this is the cross-check's own noise.
    integral_noise: float
    power_mean_w: float  # energy_j / window_s
    power_max_w: float  # max over ticks in the window of instant power summed over GPUs
    n_gpus: int
    n_samples: int  # rows of the frame inside the window
    per_gpu_energy_j: dict[int, float] = field(default_factory=dict)
    flags: tuple[str, ...] = ()  # energy_disagreement, short_window, no_instant_power


def window_energy(
    frame: pd.DataFrame,
    t0: float,
    t1: float,
    *,
    counter_period_s: float = DEFAULT_COUNTER_PERIOD_S,
    disagreement_tol: float = DEFAULT_DISAGREEMENT_TOL,
) -> WindowEnergy:
    """Energy in [t0, t1]; the frame's samples of every GPU must bracket the window.

    Counter: per GPU, the counter is interpolated linearly at t0 and t1. A counter that
    updates less often than it is sampled (NVML: every 100 ms) shows runs of equal values;
    only the first sample of each run is kept (when the value became visible), which
    removes the stair-step error of interpolating inside a run. A continuously updated
    counter (SimGpu) has no runs and is used as is.

    ``integral_noise``: the instant power is a sample, not the mean over its update
    interval; the integral's expected relative error is estimated from how far each
    power update lies from the counter's mean power over the interval before it
    (``integral_noise``).

    Flags: ``short_window`` if the window is shorter than ``counter_period_s`` (the counter
    cannot resolve it); ``energy_disagreement`` if counter and integral differ by more than
    ``disagreement_tol``; ``no_instant_power`` if a GPU's instant power was the 1 s average.
    """
    if not (math.isfinite(t0) and math.isfinite(t1) and t1 > t0):
        raise GreenllmError(f"telemetry window must have t1 > t0, got [{t0}, {t1}]")
    gpus = sorted(int(g) for g in frame["gpu"].unique()) if len(frame) else []
    if not gpus:
        raise GreenllmError("telemetry frame is empty: was the sampler started?")
    per_gpu: dict[int, float] = {}
    integral_j = 0.0
    noise_var_j2 = 0.0
    flags: list[str] = []
    for g in gpus:
        rows = frame[frame["gpu"] == g].sort_values("t_mono")
        t = rows["t_mono"].to_numpy(dtype=float)
        if t[0] > t0 or t[-1] < t1:
            raise GreenllmError(
                f"telemetry of GPU {g} covers [{t[0]:.3f}, {t[-1]:.3f}] s, not the window "
                f"[{t0:.3f}, {t1:.3f}] s: start the sampler before and stop it after the window"
            )
        e = rows["energy_mj"].to_numpy(dtype=float)
        read = np.isfinite(e)  # the counter is read on some ticks only (energy_period_s)
        te, ee = _first_of_runs(t[read], e[read])
        if not len(te) or te[0] > t0 or te[-1] < t1:
            raise GreenllmError(
                f"energy readings of GPU {g} do not bracket the window [{t0:.3f}, {t1:.3f}] s"
            )
        per_gpu[g] = float(np.interp(t1, te, ee) - np.interp(t0, te, ee)) / 1000.0
        p = rows["power_instant_w"].to_numpy(dtype=float)
        inside = (t > t0) & (t < t1)
        tt = np.concatenate(([t0], t[inside], [t1]))
        pp = np.concatenate(([np.interp(t0, t, p)], p[inside], [np.interp(t1, t, p)]))
        integral_j += float(np.trapezoid(pp, tt))
        noise_var_j2 += integral_noise_j(t, p, te, ee, t0, t1) ** 2
        instant_ok = "power_instant_supported" not in rows or bool(rows["power_instant_supported"].all())
        if not instant_ok and "no_instant_power" not in flags:
            flags.append("no_instant_power")
    energy_j = sum(per_gpu.values())
    window_s = t1 - t0
    disagreement = (integral_j - energy_j) / energy_j if energy_j > 0 else math.nan
    if not math.isnan(disagreement) and abs(disagreement) > disagreement_tol:
        flags.append("energy_disagreement")
    if window_s < counter_period_s:
        flags.append("short_window")
    in_window = frame[(frame["t_mono"] >= t0) & (frame["t_mono"] <= t1)]
    if len(in_window):
        power_max_w = float(in_window.groupby("tick")["power_instant_w"].sum().max())
    else:  # window between two ticks: the interpolated edges are all there is
        power_max_w = integral_j / window_s
    return WindowEnergy(
        t0=t0,
        t1=t1,
        window_s=window_s,
        energy_j=energy_j,
        energy_integral_j=integral_j,
        disagreement=disagreement,
        integral_noise=math.sqrt(noise_var_j2) / energy_j if energy_j > 0 else math.nan,
        power_mean_w=energy_j / window_s,
        power_max_w=power_max_w,
        n_gpus=len(gpus),
        n_samples=len(in_window),
        per_gpu_energy_j=per_gpu,
        flags=tuple(flags),
    )


def integral_noise_j(t: np.ndarray, p: np.ndarray, te: np.ndarray, ee_mj: np.ndarray,
                     t0: float, t1: float) -> float:
    """1-sigma error (J) of the instant-power integral over [t0, t1] from sampling.

    Each power update ``P_k`` (first tick showing a new value, at ``u_k``) stands for the
    interval of length ``d`` (the median gap between updates) before it; the counter
    (``te``, ``ee_mj``: its first-of-run readings) gives that interval's true mean power.
    The residuals' spread times ``d`` is one update's error in joules, and ``n``
    independent updates add in quadrature. On the lent H100 the instant power and the
    counter both update every 100 ms and the residual is ~30-40 W at 350 W mean, so a 10 s
    window's integral is uncertain by ~1 % (docs/h100.md). ``nan`` with under 3 updates.
    """
    u, pk = _first_of_runs(t, p)
    inside = (u > t0) & (u < t1)
    if inside.sum() < 3 or len(te) < 2:
        return math.nan
    d = float(np.median(np.diff(u)))
    uk, pk = u[inside], pk[inside]
    ok = uk - d >= te[0]
    if ok.sum() < 3 or d <= 0:
        return math.nan
    mean_w = (np.interp(uk[ok], te, ee_mj) - np.interp(uk[ok] - d, te, ee_mj)) / 1000.0 / d
    resid = pk[ok] - mean_w
    return float(np.std(resid, ddof=1) * d * math.sqrt(inside.sum()))


def _first_of_runs(t: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.ones(len(e), dtype=bool)
    keep[1:] = e[1:] != e[:-1]
    keep[-1] = True  # the last reading bounds the series (a flat tail = no energy)
    return t[keep], e[keep]


def clock_stats(frame: pd.DataFrame, t0: float, t1: float, column: str = "sm_clock_mhz") -> dict[str, float]:
    """mean, p5, p50, p95 of ``column`` over samples in [t0, t1], all GPUs pooled (nan if none)."""
    values = frame.loc[(frame["t_mono"] >= t0) & (frame["t_mono"] <= t1), column].to_numpy(dtype=float)
    if len(values) == 0:
        return {"mean": math.nan, "p5": math.nan, "p50": math.nan, "p95": math.nan}
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    return {"mean": float(values.mean()), "p5": float(p5), "p50": float(p50), "p95": float(p95)}


def throttle_names(frame: pd.DataFrame, t0: float, t1: float) -> list[str]:
    """Clock-event reasons seen in any sample in [t0, t1] (NVML bit order)."""
    masks = frame.loc[(frame["t_mono"] >= t0) & (frame["t_mono"] <= t1), "throttle_reasons"]
    combined = 0
    for m in masks.to_numpy():
        combined |= int(m)
    return decode_reasons(combined)
