"""The ``virtual`` engine kind: the simulator in virtual time, no server, no sleeping.

The same scheduler, performance model and power law as the live ``sim`` engine
(``greenllm.sim.offline.simulate_load``), driven by the same load code as a live
engine: ``measure`` sends a schedule of arrivals with exact lengths and gets back one
row per request, every token's delivery time included, and reads telemetry from a
sampler. Here both are computed instead of observed:

* time is a virtual clock (seconds, starting at ``T_START``) that advances by what each
  load took in the simulator plus an idle gap between loads (``GAP_S``, the client's
  set-up between points);
* telemetry is sampled every ``TELEMETRY_PERIOD_S`` of virtual time from the simulated
  GPUs' energy trace: the counter is exact, ``power_instant_w`` is the mean power over
  the tick before the sample (an NVML "instant" reading is itself a short average);
* each load is one simulated run with its own jitter factors (``greenllm.sim.jitter``),
  drawn from the load's seed, so repeats differ as they do on a real card;
* the SM clock is the one locked on the instance's ``SimGpu`` (``pin_clocks`` sets it as
  for any GPU); idle loads draw idle power at that clock.

Each load starts from an empty engine (the live client also waits for every request to
finish before the next point), with the power limiter's average at the idle draw.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenllm import __version__, atomic
from greenllm.errors import ConfigError, EngineError
from greenllm.gpu import Gpu, open_gpus
from greenllm.gpu.reasons import REASON_BITS
from greenllm.gpu.telemetry import COLUMNS
from greenllm.load import Workload
from greenllm.load.records import RECORD_COLUMNS
from greenllm.sim.gpu_models import SimulatedGpuModel, simulated_gpu
from greenllm.sim.jitter import Jitter
from greenllm.sim.model_shape import ModelShape
from greenllm.sim.offline import OfflineResult, simulate_load
from greenllm.sim.perf_model import PerfModel

T_START = 1000.0  # virtual seconds at engine start (any value; positive like monotonic)
GAP_S = 0.5  # idle virtual time before each load (client set-up, previous drain)
TELEMETRY_PERIOD_S = 0.05
COUNTER_BASE_MJ = 1.0e9  # the energy counter counts since "driver load", not from 0
SEQUENTIAL_GAP_S = 0.05  # requests alone: each starts this long after the previous ended
_POWER_CAP = REASON_BITS["sw_power_cap"]


def model_shape(cfg: Any) -> ModelShape:
    return ModelShape.from_dims(cfg.model.shape, str(cfg.model.name))


def gpu_model(cfg: Any) -> SimulatedGpuModel:
    g = cfg.gpu
    return simulated_gpu(str(g.name), max_sm_clock_mhz=int(g.max_sm_clock_mhz),
                         min_sm_clock_mhz=int(g.min_sm_clock_mhz),
                         power_limit_w=float(g.power_limit_w))


class _Trace:
    """The instance's energy over virtual time, as chunks of numpy arrays (one per load
    or idle gap): segment ends, cumulative energy (all GPUs, J), and the clock, busy
    state and requested clock of the segment ending there. A window only concatenates
    the chunks it overlaps, so a long run's telemetry costs what its cell costs."""

    def __init__(self) -> None:
        self.chunks: list[tuple[np.ndarray, ...]] = []
        self.starts: list[float] = []
        self.t_end = T_START
        self.e_end = 0.0
        self._append(np.array([T_START]), np.array([0.0]), np.array([0.0]),
                     np.array([False]), np.array([0.0]))

    def _append(self, t: np.ndarray, e: np.ndarray, clock: np.ndarray, busy: np.ndarray,
                requested: np.ndarray) -> None:
        if not len(t):
            return
        self.chunks.append((t, e, clock, busy, requested))
        self.starts.append(float(t[0]))
        self.t_end, self.e_end = float(t[-1]), float(e[-1])

    def idle(self, until: float, power_w_all: float, clock: float) -> None:
        if until <= self.t_end:
            return
        e = self.e_end + power_w_all * (until - self.t_end)
        self._append(np.array([until]), np.array([e]), np.array([clock]), np.array([False]),
                     np.array([clock]))

    def run(self, t0: float, res: OfflineResult, requested: float) -> None:
        t = np.asarray(res.trace_t_s, dtype=float) + t0
        e = np.asarray(res.trace_energy_j, dtype=float) + self.e_end
        keep = np.concatenate(([True], np.diff(t) > 0)) & (t > self.t_end)
        self._append(t[keep], e[keep], np.asarray(res.trace_clock_mhz, dtype=float)[keep],
                     np.asarray(res.trace_busy, dtype=bool)[keep],
                     np.full(int(keep.sum()), requested))

    def window(self, t0: float, t1: float) -> tuple[np.ndarray, ...]:
        """The segments that cover [t0, t1], with one segment end at or before t0."""
        i0 = max(0, int(np.searchsorted(self.starts, t0, side="right")) - 2)
        i1 = int(np.searchsorted(self.starts, t1, side="right")) + 1
        parts = self.chunks[i0:i1]
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(5))


class VirtualSampler:
    """Telemetry of the virtual engine over the cell (``TelemetrySampler`` columns)."""

    def __init__(self, engine: VirtualEngine, indices: Sequence[int]) -> None:
        self.engine = engine
        self.indices = tuple(indices)
        self.t_start: float | None = None
        self.t_stop: float | None = None

    def __enter__(self) -> VirtualSampler:
        self.t_start = self.engine.now
        return self

    def __exit__(self, *exc: object) -> None:
        self.t_stop = self.engine.now

    def frame(self) -> pd.DataFrame:
        if self.t_start is None:
            return pd.DataFrame(columns=list(COLUMNS))
        end = self.engine.now if self.t_stop is None else self.t_stop
        return self.engine.telemetry(self.t_start, end, self.indices)


class VirtualEngine:
    kind = "virtual"

    def __init__(self, perf: PerfModel, model: SimulatedGpuModel, gpu: Gpu, *,
                 max_num_seqs: int, max_num_batched_tokens: int, jitter: Jitter,
                 served_name: str) -> None:
        self.perf = perf.with_max_num_seqs(max_num_seqs)
        self.model = model
        self.gpu = gpu
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.jitter = jitter
        self.base_url = f"virtual://{served_name}"
        self.now = T_START
        self.n_gpus = len(gpu.indices)
        self._trace = _Trace()
        self._wall0 = 1.7e9  # t_wall = a fixed epoch + virtual time (reproducible files)

    # -- clocks ------------------------------------------------------------------------
    def _locked_mhz(self) -> float | None:
        locked = getattr(self.gpu, "locked_sm_clock_mhz", None)
        value = locked(self.gpu.indices[0]) if locked else None
        return None if value is None else float(value)

    def _idle(self, until: float, power_scale: float) -> None:
        spec = self.model.power
        clock = self._locked_mhz() or float(spec.idle_sm_clock_mhz)
        if not spec.locked_clock_holds_when_idle:
            clock = float(spec.idle_sm_clock_mhz)
        self._trace.idle(until, spec.power_w(clock, 0.0, 0.0) * power_scale * self.n_gpus,
                         clock)

    # -- the Engine interface ------------------------------------------------------------
    def send(self, workload: Workload, offsets_s: Sequence[float], *, seed: int,
             timeout_s: float, request_id_prefix: str = "") -> pd.DataFrame:
        return self.send_requests(
            [(float(t), workload.input_tokens, workload.output_tokens) for t in offsets_s],
            seed=seed, timeout_s=timeout_s, workload_id=workload.id,
            request_id_prefix=request_id_prefix)

    def send_requests(self, requests: Sequence[tuple[float, int, int]], *, seed: int,
                      timeout_s: float, workload_id: str = "trace",
                      request_id_prefix: str = "") -> pd.DataFrame:
        """The arrival source in its general form: (send offset s, input tokens, output
        tokens) per request, e.g. a replayed trace; ``send`` is the equal-length case."""
        if not len(requests):
            raise ConfigError("a load needs at least one request")
        offsets = np.asarray([r[0] for r in requests], dtype=float)
        lengths = [(int(r[1]), int(r[2])) for r in requests]
        offsets = offsets - offsets[0]
        time_scale, power_scale, latency_scale = self.jitter.draw(seed)
        locked = self._locked_mhz()
        res = simulate_load(
            self.perf, input_tokens=lengths[0][0], output_tokens=lengths[0][1],
            rate_rps=1.0, n_requests=len(offsets), max_num_seqs=self.max_num_seqs,
            max_num_batched_tokens=self.max_num_batched_tokens, locked_clock_mhz=locked,
            gpu_spec=self.model.power, arrivals_s=offsets, time_scale=time_scale,
            power_scale=power_scale, latency_scale=latency_scale, record_token_times=True,
            lengths=lengths)
        t0 = self.now + GAP_S
        self._idle(t0, power_scale)
        self._trace.run(t0, res, locked or float(self.model.power.max_sm_clock_mhz))
        end = t0 + max(res.trace_t_s[-1], max(res.last_token_s, default=0.0))
        self._idle(end, power_scale)
        self.now = end
        return self._frame(workload_id, lengths, offsets, res, t0, timeout_s, request_id_prefix)

    def send_sequential(self, workload: Workload, n: int, *, seed: int,
                        timeout_s: float) -> pd.DataFrame:
        # Identical requests alone take identical time: one run gives the spacing at
        # which none of the n overlaps (start = previous end + the client's gap).
        one = simulate_load(self.perf, input_tokens=workload.input_tokens,
                            output_tokens=workload.output_tokens, rate_rps=1.0, n_requests=1,
                            max_num_seqs=self.max_num_seqs,
                            max_num_batched_tokens=self.max_num_batched_tokens,
                            locked_clock_mhz=self._locked_mhz(), gpu_spec=self.model.power,
                            arrivals_s=[0.0],
                            time_scale=self.jitter.draw(seed)[0] * 1.5,
                            latency_scale=self.jitter.draw(seed)[2] * 1.5)
        spacing = one.last_token_s[0] + SEQUENTIAL_GAP_S
        return self.send(workload, np.arange(int(n)) * spacing, seed=seed, timeout_s=timeout_s,
                         request_id_prefix="baseline-")

    def sampler(self, gpu: Gpu) -> VirtualSampler:
        return VirtualSampler(self, gpu.indices)

    def check_alive(self) -> None:
        return None  # nothing runs outside this process

    def stop(self, grace_s: float) -> None:
        return None

    # -- outputs -------------------------------------------------------------------------
    def _frame(self, workload_id: str, lengths: Sequence[tuple[int, int]], offsets: np.ndarray,
               res: OfflineResult, t0: float, timeout_s: float, prefix: str) -> pd.DataFrame:
        n = len(offsets)
        send = offsets + t0
        first = np.asarray(res.first_token_s, dtype=float) + t0
        last = np.asarray(res.last_token_s, dtype=float) + t0
        times = [np.asarray(tt, dtype=float) + t0 for tt in res.token_times_s]
        ok = (last - send) <= timeout_s
        errors = ["" if o else f"timeout after {timeout_s:g} s" for o in ok]
        if not ok.all():  # what a client that gives up would have seen by then
            for i in np.flatnonzero(~ok):
                times[i] = times[i][times[i] <= send[i] + timeout_s]
                last[i] = times[i][-1] if len(times[i]) else math.nan
                if not len(times[i]):
                    first[i] = math.nan
        n_tok = np.array([len(tt) for tt in times], dtype=int)
        cols: dict[str, Any] = {
            "request_id": [f"{prefix}{i:06d}" for i in range(n)],
            "index": np.arange(n, dtype=int),
            "workload_id": [workload_id] * n,
            "input_tokens_requested": np.array([a for a, _ in lengths], dtype=int),
            "output_tokens_requested": np.array([b for _, b in lengths], dtype=int),
            "scheduled_offset_s": offsets,
            "scheduled_s": send,
            "send_s": send,
            "send_wall_s": send + self._wall0,
            "lateness_s": np.zeros(n),
            "first_token_s": first,
            "last_token_s": last,
            "end_s": np.where(ok, last, send + timeout_s),
            "token_times_s": [tt.tolist() for tt in times],
            "n_chunks": n_tok,
            "tokens_in": pd.array([a for a, _ in lengths], dtype="Int64"),
            "tokens_out": pd.array(n_tok.tolist(), dtype="Int64"),
            "token_count_source": ["token_ids"] * n,
            "http_status": np.where(ok, 200, 0).astype(int),
            "error": errors,
            "ok": ok,
        }
        return pd.DataFrame(cols, columns=list(RECORD_COLUMNS))

    def telemetry(self, t_start: float, t_end: float, indices: Sequence[int]) -> pd.DataFrame:
        """Samples every TELEMETRY_PERIOD_S from t_start, and one at t_end (as the live
        sampler samples on start and stop), of every GPU in ``indices``."""
        t, e, clock_seg, busy_seg, requested_seg = self._trace.window(
            t_start - TELEMETRY_PERIOD_S, t_end)
        grid = np.arange(t_start, t_end, TELEMETRY_PERIOD_S)
        ticks = np.concatenate((grid, [t_end])) if (not len(grid) or grid[-1] < t_end) else grid
        e_now = np.interp(ticks, t, e)
        e_prev = np.interp(ticks - TELEMETRY_PERIOD_S, t, e)
        power_all = (e_now - e_prev) / TELEMETRY_PERIOD_S
        seg = np.clip(np.searchsorted(t, ticks, side="left"), 1, len(t) - 1)
        clock = clock_seg[seg]
        busy = busy_seg[seg]
        capped = busy & (clock < requested_seg[seg] - 1.0)
        spec = self.model.power
        k, g = len(ticks), len(indices)
        per_gpu_power = power_all / self.n_gpus
        frame = pd.DataFrame({
            "gpu": np.tile(np.asarray(indices, dtype=np.int64), k),
            "tick": np.repeat(np.arange(k, dtype=np.int64), g),
            "t_mono": np.repeat(ticks, g),
            "t_wall": np.repeat(ticks + self._wall0, g),
            "energy_mj": np.repeat(COUNTER_BASE_MJ + e_now / self.n_gpus * 1000.0, g),
            "power_instant_w": np.repeat(per_gpu_power, g),
            "power_avg_w": np.repeat(per_gpu_power, g),
            "sm_clock_mhz": np.repeat(np.rint(clock).astype(np.int64), g),
            "mem_clock_mhz": np.full(k * g, spec.memory_clock_mhz, dtype=np.int64),
            "temperature_c": np.repeat(spec.ambient_c + spec.thermal_resistance_c_per_w
                                       * per_gpu_power, g),
            "throttle_reasons": np.repeat(np.where(capped, _POWER_CAP, 0).astype(np.int64), g),
            "utilization_pct": np.repeat(np.where(busy, 100.0, 0.0), g),
            "power_instant_supported": np.ones(k * g, dtype=bool),
        })
        return frame


@dataclass(frozen=True)
class VirtualKind:
    """``engine=virtual``: simulated GPUs of the configured model, the simulator in
    virtual time."""

    name: str = "virtual"

    def open_gpus(self, cfg: Any, out: Path) -> Gpu:
        model = gpu_model(cfg)
        # Clocks apply at once: no wall time passes in a virtual run.
        return open_gpus("sim", list(range(int(cfg.instance.tp))),
                         sim_state_path=out / "simgpu.state", spec=model.power,
                         clock_permitted=bool(cfg.clocks.sim_clock_permitted), settle_s=0.0)

    def config_problems(self, cfg: Any) -> list[str]:
        try:  # the simulated GPU model must exist before anything runs
            simulated_gpu(str(cfg.gpu.name))
        except ConfigError as err:
            return [str(err)]
        return []

    def version(self) -> str:
        return f"greenllm-virtual {__version__}"

    def start(self, cfg: Any, gpu: Gpu, *, model_dir: Path, out: Path,
              max_model_len: int) -> VirtualEngine:
        model = gpu_model(cfg)
        tp = int(cfg.instance.tp)
        try:
            perf = PerfModel(model_shape(cfg), model.perf, tp)
        except ConfigError:
            raise
        except Exception as err:  # a shape the model cannot place: not the run's fault
            raise EngineError(f"virtual engine: {err}") from err
        v = cfg.engine.virtual
        line = (f"greenllm: virtual engine: {cfg.model.name} on {tp} simulated {model.name} "
                f"(virtual time; jitter sigma: time {v.jitter_time:g}, power "
                f"{v.jitter_power:g}, latency {v.jitter_latency:g})")
        print(line, file=sys.stderr, flush=True)
        # engine.log as every kind has one: here, what ran (no server, nothing else logs)
        atomic.write_text(out / "engine.log", line + "\n")
        return VirtualEngine(
            perf, model, gpu, max_num_seqs=int(cfg.instance.max_batch),
            max_num_batched_tokens=int(cfg.engine.max_num_batched_tokens or 8192),
            jitter=Jitter(float(v.jitter_time), float(v.jitter_power), float(v.jitter_latency)),
            served_name=str(cfg.model.name))
