"""Offline (virtual-time) runs of the simulated engine, for calibration checks.

The same scheduler, performance model and SimGpu power/throttling law as the live
server, but time is a variable instead of the wall clock: a minute of load runs in
well under a second and is exactly reproducible. ``python -m greenllm.sim.offline``
prints the simulator's numbers beside the ones measured with vLLM on the lent H100
(/work/shared/device/README.md) so calibration drift is visible; the full comparison
with the committed reference dataset is ``python -m greenllm.calibrate.calibration_check``
(docs/calibration.md).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from greenllm.errors import ConfigError
from greenllm.gpu.sim import PowerLimiter, SimGpuSpec
from greenllm.sim.hardware import GpuPerfSpec
from greenllm.sim.model_shape import ModelShape
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.scheduler import Scheduler, SimRequest


@dataclass
class OfflineResult:
    ttft_s: list[float] = field(default_factory=list)
    itl_s: list[float] = field(default_factory=list)  # every inter-token gap (vLLM's ITL)
    energy_j: float = 0.0  # all GPUs of the instance
    duration_s: float = 0.0
    output_tokens: int = 0
    max_power_w: float = 0.0  # per GPU
    clock_time_mhz_s: float = 0.0  # integral of clock over busy time
    busy_s: float = 0.0
    # Per request (index = request number): send time, first and last token time.
    arrivals_s: list[float] = field(default_factory=list)
    first_token_s: list[float] = field(default_factory=list)
    last_token_s: list[float] = field(default_factory=list)
    # Trace at the end of every iteration or idle gap: time, cumulative energy (all GPUs)
    # and cumulative output tokens. Energy is linear within a segment (constant power),
    # tokens arrive at a segment's end: enough to cut any measurement window exactly.
    trace_t_s: list[float] = field(default_factory=list)
    trace_energy_j: list[float] = field(default_factory=list)
    trace_tokens: list[int] = field(default_factory=list)
    # When each iteration's tokens reached the clients (after the frontend), cumulative.
    delivery_t_s: list[float] = field(default_factory=list)
    delivery_tokens: list[int] = field(default_factory=list)
    # SM clock of each trace segment (same length as trace_t_s): the segment ending at
    # trace_t_s[k] ran at trace_clock_mhz[k] (idle gaps at the idle or locked clock).
    trace_clock_mhz: list[float] = field(default_factory=list)
    trace_busy: list[bool] = field(default_factory=list)  # iteration (True) or idle gap
    # Per request, when each of its tokens reached the client (record_token_times=True).
    token_times_s: list[list[float]] = field(default_factory=list)

    @property
    def ttft_p50_s(self) -> float:
        return statistics.median(self.ttft_s)

    @property
    def itl_p50_s(self) -> float:
        return statistics.median(self.itl_s)

    @property
    def j_per_token(self) -> float:
        return self.energy_j / self.output_tokens

    @property
    def mean_busy_clock_mhz(self) -> float:
        return self.clock_time_mhz_s / self.busy_s if self.busy_s else 0.0


def simulate_load(
    perf: PerfModel,
    *,
    input_tokens: int,
    output_tokens: int,
    rate_rps: float,
    n_requests: int,
    max_num_seqs: int = 64,
    max_num_batched_tokens: int = 8192,
    locked_clock_mhz: float | None = None,
    gpu_spec: SimGpuSpec | None = None,
    seed: int = 0,
    arrivals_s: Sequence[float] | None = None,
    time_scale: float = 1.0,
    power_scale: float = 1.0,
    latency_scale: float = 1.0,
    record_token_times: bool = False,
    power_limit_w: float | None = None,
    memory_clock_mhz: int | None = None,
    lengths: Sequence[tuple[int, int]] | None = None,
) -> OfflineResult:
    """Poisson arrivals of equal requests; returns latencies and energy over the run.

    ``arrivals_s`` (non-decreasing send times) replaces the Poisson draw, e.g. to replay
    the exact schedule of a measured load point; ``rate_rps`` and ``n_requests`` are
    then ignored.

    ``time_scale``, ``power_scale`` and ``latency_scale`` multiply every iteration's
    duration, every drawn power and the request latency that occupies nothing (the part
    of ``request_overhead_s`` beyond the frontend's): the run-to-run jitter of
    ``greenllm.sim.jitter`` (1 = the calibrated model). ``record_token_times`` keeps every token's delivery time per request
    (``OfflineResult.token_times_s``), as the streaming client records them.

    A request reaches the scheduler ``request_overhead_s`` after it was sent. The first
    ``frontend_request_s`` of that is serial work of the API server (the *frontend*:
    one Python process in front of the engine core, as in vLLM), served first come,
    first served; the rest is latency that occupies nothing (network, IPC, wake-ups).
    Tokens finished by an iteration reach the clients when the frontend is free, so a
    request being processed holds back the tokens of every running stream: TBT tails
    under load and a request-rate limit for small models. With ``frontend_request_s``
    at 0, tokens reach the clients at the end of their iteration.

    Power and clock follow SimGpu's law, its power limiter included: the limiter's
    averaged power integrates over virtual time (``PowerLimiter``, one for the instance:
    TP GPUs run in lock step with equal load), so a short compute-bound burst runs at
    the requested clock above the power limit and sustained load settles at the limit.
    An iteration during which the limiter engages runs its first part at the requested
    clock and the rest of its work at the capped clock. ``power_limit_w`` /
    ``memory_clock_mhz`` set those knobs (None: the card's default), as ``SimGpu`` does.
    """
    spec = (gpu_spec or SimGpuSpec.h100_sxm()).with_settings(power_limit_w, memory_clock_mhz)
    mem = spec.memory_clock_ratio()  # HBM bandwidth follows the memory clock (perf_model)
    if arrivals_s is not None:
        arrivals = [float(a) for a in arrivals_s]
        if not arrivals or any(b < a for a, b in zip(arrivals, arrivals[1:], strict=False)):
            raise ConfigError("arrivals_s must be a non-empty, non-decreasing list of times")
        n_requests = len(arrivals)
    else:
        rng = random.Random(seed)
        t = 0.0
        arrivals = []
        for _ in range(n_requests):
            t += rng.expovariate(rate_rps)
            arrivals.append(t)
    perf = perf.with_max_num_seqs(max_num_seqs)  # CUDA-graph sizes follow the batch cap
    cal = perf.cal
    fe_request = min(cal.frontend_request_s, cal.request_overhead_s)
    latency = (cal.request_overhead_s - fe_request) * latency_scale
    sched = Scheduler(max_num_seqs, max_num_batched_tokens)
    res = OfflineResult(arrivals_s=arrivals)
    first_token: dict[int, float] = {}
    last_token: dict[int, float] = {}
    trace_t, trace_e, trace_n = res.trace_t_s, res.trace_energy_j, res.trace_tokens
    trace_c, trace_b = res.trace_clock_mhz, res.trace_busy
    token_times: list[list[float]] | None = (
        [[] for _ in range(n_requests)] if record_token_times else None)
    if lengths is not None and len(lengths) != n_requests:
        raise ConfigError(f"lengths has {len(lengths)} pairs for {n_requests} arrivals")
    pairs = lengths if lengths is not None else [(input_tokens, output_tokens)] * n_requests
    reqs = [SimRequest(str(i), int(a), int(b), tag=i) for i, (a, b) in enumerate(pairs)]
    busy_req = float(locked_clock_mhz or spec.max_sm_clock_mhz)
    idle_req = float(locked_clock_mhz or spec.idle_sm_clock_mhz)
    now = 0.0
    n_gpus = perf.tp
    limiter = PowerLimiter(spec, spec.power_w(idle_req, 0.0, 0.0))
    # The frontend: ``fe_free`` is when it finishes the work queued so far. Requests are
    # queued in arrival order (``queued``), interleaved in time with output batches;
    # ``ready[i]`` is when request i reaches the scheduler.
    fe_free = 0.0
    queued = 0
    admitted = 0
    ready: list[float] = []

    def queue_arrivals(until: float) -> None:
        nonlocal fe_free, queued
        while queued < n_requests and arrivals[queued] <= until:
            fe_free = max(fe_free, arrivals[queued]) + fe_request
            ready.append(fe_free + latency)
            queued += 1

    def account(duration: float, power_w: float, *, engages: bool = False) -> None:
        limiter.draw(power_w, duration, engages=engages)
        power_w *= power_scale
        res.energy_j += power_w * duration * n_gpus
        res.max_power_w = max(res.max_power_w, power_w)

    while admitted < n_requests or sched.has_work():
        queue_arrivals(now)
        while admitted < queued and ready[admitted] <= now:
            sched.add(reqs[admitted])
            admitted += 1
        if not sched.has_work():
            if admitted == queued:  # nothing in the frontend: the next arrival enters it
                queue_arrivals(arrivals[queued])
            t_next = ready[admitted]
            _, idle_w, _ = limiter.operating_point(idle_req, 0.0, 0.0)
            account(t_next - now, idle_w)
            now = t_next
            trace_t.append(now)
            trace_e.append(res.energy_j)
            trace_n.append(res.output_tokens)
            trace_c.append(idle_req)
            trace_b.append(False)
            continue
        batch = sched.step()
        cost = perf.batch_cost(batch, busy_req, mem)
        cost_s = cost.duration_s * time_scale
        clock, power, capped = limiter.operating_point(
            busy_req, cost.compute_util, cost.memory_util)
        boost_s = 0.0 if capped else limiter.headroom_s(power)
        if boost_s < cost_s:
            # The cap is engaged, or engages after boost_s: the rest of the work runs at
            # the clock that holds the limit under this load (priced twice, as the live
            # engine does: the clock depends on the load, the load on the clock).
            if boost_s > 0:
                account(boost_s, power, engages=True)
                res.clock_time_mhz_s += clock * boost_s
                trace_t.append(now + boost_s)
                trace_e.append(res.energy_j)
                trace_n.append(res.output_tokens)
                trace_c.append(clock)
                trace_b.append(True)
            done = boost_s / cost_s
            clock, _, _ = spec.operating_point(busy_req, cost.compute_util, cost.memory_util)
            capped_cost = perf.batch_cost(batch, clock, mem)
            clock, power, _ = spec.operating_point(
                busy_req, capped_cost.compute_util, capped_cost.memory_util)
            rest_s = (1.0 - done) * capped_cost.duration_s * time_scale
            account(rest_s, power)
            res.clock_time_mhz_s += clock * rest_s
            duration = boost_s + rest_s
        else:
            account(cost_s, power)
            res.clock_time_mhz_s += clock * cost_s
            duration = cost_s
        res.busy_s += duration
        now += duration
        delivered = now
        if batch.emitted and fe_request:
            queue_arrivals(now)  # requests that came in during the iteration are ahead
            fe_free = delivered = max(fe_free, now)
        for req in batch.emitted:
            i = req.tag
            if token_times is not None:
                token_times[i].append(delivered)
            if i in last_token:
                res.itl_s.append(delivered - last_token[i])
            else:
                first_token[i] = delivered
                res.ttft_s.append(delivered - arrivals[i])
            last_token[i] = delivered
        res.output_tokens += len(batch.emitted)
        res.delivery_t_s.append(delivered)
        res.delivery_tokens.append(res.output_tokens)
        trace_t.append(now)
        trace_e.append(res.energy_j)
        trace_n.append(res.output_tokens)
        trace_c.append(clock)
        trace_b.append(True)
    res.duration_s = max(now, max(last_token.values(), default=now)) - arrivals[0]
    res.first_token_s = [first_token[i] for i in range(n_requests)]
    res.last_token_s = [last_token[i] for i in range(n_requests)]
    if token_times is not None:
        res.token_times_s = token_times
    return res


# Measured with vLLM 0.26 on the lent H100 (1.1B Llama shape, max-num-seqs 64):
# (input, output, rate, TTFT p50 ms, TBT p50 ms, J/token or None). Single early runs
# (/work/shared/device/README.md), except the 100->50 TTFT: the early run's 38 ms is
# contradicted by the committed reference (reports/reference/h100-2026-11-25, 1.1B
# S-S = 100->50: 16.0 and 19.7 ms sent alone, 17.5 ms p50 over 3 repeats at 11.6 req/s),
# so the row holds the reference's value.
MEASURED_1B = (
    (100, 50, 1.0, 18.0, 2.0, None),
    (500, 128, 8.0, 25.0, 1.7, 0.28),
    (1024, 256, 32.0, 51.0, 2.9, 0.058),
)

TINY_LLAMA_1B = ModelShape(
    hidden_size=2048,
    num_layers=22,
    num_heads=32,
    num_kv_heads=4,
    intermediate_size=5632,
    vocab_size=32000,
    head_dim=64,
    name="llama-1.1b",
)
LLAMA2_70B = ModelShape(
    hidden_size=8192,
    num_layers=80,
    num_heads=64,
    num_kv_heads=8,
    intermediate_size=28672,
    vocab_size=32000,
    head_dim=128,
    name="llama-2-70b",
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Simulator numbers beside measured vLLM numbers.")
    p.add_argument("--requests", type=int, default=600)
    args = p.parse_args(argv)
    perf = PerfModel(TINY_LLAMA_1B, GpuPerfSpec.h100_sxm(), 1)
    print("1.1B Llama shape, TP1, max-num-seqs 64 (sim vs measured vLLM 0.26, H100):")
    for inp, out, rate, ttft_ms, tbt_ms, jpt in MEASURED_1B:
        r = simulate_load(
            perf,
            input_tokens=inp,
            output_tokens=out,
            rate_rps=rate,
            n_requests=args.requests,
            max_num_seqs=64,
        )
        jpt_s = f"{jpt:.3f}" if jpt else "  -  "
        print(
            f"  {inp:>4}->{out:<3} @{rate:>4.0f} req/s: TTFT p50 {r.ttft_p50_s * 1e3:5.1f} ms"
            f" (meas {ttft_ms:4.0f}), TBT p50 {r.itl_p50_s * 1e3:4.2f} ms (meas {tbt_ms:.1f}),"
            f" J/token {r.j_per_token:.3f} (meas {jpt_s}), peak {r.max_power_w:.0f} W,"
            f" busy clock {r.mean_busy_clock_mhz:.0f} MHz"
        )
    print("Llama-2-70B shape, 1024->128 at 1 req/s, locked clocks:")
    for tp in (2, 4, 8):
        perf70 = PerfModel(LLAMA2_70B, GpuPerfSpec.h100_sxm(), tp)
        for clock in (1980, 1400, 800):
            r = simulate_load(
                perf70,
                input_tokens=1024,
                output_tokens=128,
                rate_rps=1.0,
                n_requests=60,
                locked_clock_mhz=clock,
            )
            print(
                f"  TP{tp} @{clock} MHz: TTFT(1024) p50 {r.ttft_p50_s * 1e3:6.1f} ms,"
                f" TBT p50 {r.itl_p50_s * 1e3:5.1f} ms, J/token {r.j_per_token:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
