"""How well the load client keeps its schedule: lateness and CPU per request.

Runs the streaming client on one core against a local no-delay streaming server (its own
process, on another core where there is one) at a high request rate with short outputs,
then prints send lateness p50/p99 (goal: p99 < 2 ms at 500 req/s) and the client's CPU
time per request. Usage: ``python benchmarks/client_bench.py [--rate 500] [--duration 10]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "load"))  # the test suite's streaming server

from sse_test_server import Behavior, serve_forever  # noqa: E402 (after the sys.path line)

from greenllm.load import (  # noqa: E402
    arrival_offsets_s,
    compute_metrics,
    records_to_frame,
    run_requests_sync,
)


def timer_lateness_ms(offsets: np.ndarray) -> np.ndarray:
    """Lateness of bare ``loop.call_at`` timers on the same schedule: the floor that
    epoll's millisecond timeouts and this machine's other processes give any client."""

    async def run() -> np.ndarray:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        late: list[float] = []
        t0 = loop.time() + 0.01

        def fire(due: float) -> None:
            late.append(time.monotonic() - due)
            if len(late) == len(offsets):
                done.set_result(None)

        for off in offsets.tolist():
            loop.call_at(t0 + off, fire, t0 + off)
        await done
        return np.array(late) * 1e3

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--input-tokens", type=int, default=32)
    parser.add_argument("--output-tokens", type=int, default=8)
    parser.add_argument("--process", default="poisson", choices=["poisson", "constant"])
    args = parser.parse_args()

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    client_cpu = cpus[0] if cpus else None
    server_cpu = cpus[1] if len(cpus) > 1 else None
    ports: mp.Queue = mp.Queue()
    server = mp.Process(target=serve_forever, args=(Behavior(), ports, server_cpu), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=20)}"
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        workload = {"id": "bench", "input_tokens": args.input_tokens,
                    "output_tokens": args.output_tokens}
        run_requests_sync(url, "bench", workload, [0.0] * 4, seed=0, timeout_s=10)  # warm up
        n = max(1, int(args.rate * args.duration))
        offsets = arrival_offsets_s(args.process, args.rate, n, seed=1)
        floor_ms = timer_lateness_ms(offsets[: min(n, int(2 * args.rate) + 1)])
        cpu0, wall0 = time.process_time(), time.monotonic()
        records = run_requests_sync(url, "bench", workload, offsets, seed=1, timeout_s=30)
        cpu_s, wall_s = time.process_time() - cpu0, time.monotonic() - wall0
    finally:
        server.terminate()
        server.join(5)

    frame = records_to_frame(records)
    metrics = compute_metrics(frame)
    lateness_ms = frame["lateness_s"].to_numpy() * 1e3
    print(f"python {sys.version.split()[0]}; client on cpu {client_cpu}, server on cpu "
          f"{server_cpu}; {n} requests "
          f"({args.process}, {args.rate:g} req/s offered, {args.input_tokens}->"
          f"{args.output_tokens} tokens) in {wall_s:.2f} s")
    print(f"ok {metrics.n_ok}, failed {metrics.n_failed}; achieved {metrics.achieved_rps:.1f} "
          f"req/s of {metrics.offered_rps:.1f} offered")
    print(f"send lateness: p50 {np.percentile(lateness_ms, 50):.3f} ms, "
          f"p99 {np.percentile(lateness_ms, 99):.3f} ms, max {lateness_ms.max():.3f} ms "
          f"(goal p99 < 2 ms)")
    print(f"bare timer lateness on the same core: p50 {np.percentile(floor_ms, 50):.3f} ms, "
          f"p99 {np.percentile(floor_ms, 99):.3f} ms (the floor)")
    print(f"client CPU: {cpu_s:.2f} s = {1e3 * cpu_s / n:.3f} ms per request "
          f"({100 * cpu_s / wall_s:.0f} % of one core)")
    print(f"TTFT p50 {1e3 * metrics.ttft_s['p50']:.3f} ms, p99 {1e3 * metrics.ttft_s['p99']:.3f} "
          f"ms (no-delay server: client + server overhead)")
    if metrics.errors:
        print(f"errors: {metrics.errors}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
