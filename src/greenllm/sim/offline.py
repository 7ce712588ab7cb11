"""Offline (virtual-time) runs of the simulated engine, for calibration checks.

The same scheduler, performance model and SimGpu power/throttling law as the live
server, but time is a variable instead of the wall clock: a minute of load runs in
well under a second and is exactly reproducible. ``python -m greenllm.sim.offline``
prints the simulator's numbers beside the ones measured with vLLM on the lent H100
(/work/shared/device/README.md) so calibration drift is visible.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from dataclasses import dataclass, field

from greenllm.gpu.sim import SimGpuSpec
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
) -> OfflineResult:
    """Poisson arrivals of equal requests; returns latencies and energy over the run."""
    spec = gpu_spec or SimGpuSpec.h100_sxm()
    rng = random.Random(seed)
    t = 0.0
    arrivals = []
    for _ in range(n_requests):
        t += rng.expovariate(rate_rps)
        arrivals.append(t)
    overhead = perf.cal.request_overhead_s
    sched = Scheduler(max_num_seqs, max_num_batched_tokens)
    res = OfflineResult()
    first_token: dict[int, float] = {}
    last_token: dict[int, float] = {}
    reqs = [SimRequest(str(i), input_tokens, output_tokens, tag=i) for i in range(n_requests)]
    busy_req = float(locked_clock_mhz or spec.max_sm_clock_mhz)
    idle_req = float(locked_clock_mhz or spec.idle_sm_clock_mhz)
    now, nxt, clock = 0.0, 0, idle_req
    n_gpus = perf.tp

    def account(duration: float, power_w: float) -> None:
        res.energy_j += power_w * duration * n_gpus
        res.max_power_w = max(res.max_power_w, power_w)

    while nxt < n_requests or sched.has_work():
        # requests reach the scheduler after the HTTP/tokenizer overhead
        while nxt < n_requests and arrivals[nxt] + overhead <= now:
            sched.add(reqs[nxt])
            nxt += 1
        if not sched.has_work():
            t_next = arrivals[nxt] + overhead
            clock, idle_w, _ = spec.operating_point(idle_req, 0.0, 0.0)
            account(t_next - now, idle_w)
            now = t_next
            continue
        batch = sched.step()
        cost = perf.batch_cost(batch, clock)
        clock, _, _ = spec.operating_point(busy_req, cost.compute_util, cost.memory_util)
        cost = perf.batch_cost(batch, clock)
        clock, power, _ = spec.operating_point(busy_req, cost.compute_util, cost.memory_util)
        account(cost.duration_s, power)
        res.busy_s += cost.duration_s
        res.clock_time_mhz_s += clock * cost.duration_s
        now += cost.duration_s
        for req in batch.emitted:
            i = req.tag
            if i in last_token:
                res.itl_s.append(now - last_token[i])
            else:
                first_token[i] = now
                res.ttft_s.append(now - arrivals[i])
            last_token[i] = now
        res.output_tokens += len(batch.emitted)
    res.duration_s = now - arrivals[0]
    return res


# Measured with vLLM 0.26 on the lent H100 (1.1B Llama shape, max-num-seqs 64):
# (input, output, rate, TTFT p50 ms, TBT p50 ms, J/token or None)
MEASURED_1B = (
    (100, 50, 1.0, 38.0, 2.0, None),
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
