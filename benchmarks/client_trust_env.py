"""What the client's ``trust_env`` costs in TTFT: the same load with and without it.

aiohttp's ``trust_env=True`` (``vllm bench serve``'s session, and greenllm's default since
2026-12-06) looks up ``~/.netrc`` and the proxy environment in worker threads for every
request, after the request's clock has started. This runs greenllm's client against a
local streaming server with a programmed 20 ms TTFT and 2 ms TBT (its own process), in
interleaved rounds that alternate the two sessions, and prints each round's TTFT p50 and
the paired differences. Usage: ``python benchmarks/client_trust_env.py [--rate 7.9]
[--requests 80] [--rounds 6]``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "load"))  # the test suite's streaming server

from sse_test_server import Behavior, serve_forever  # noqa: E402

from greenllm.load import arrival_offsets_s, compute_metrics, records_to_frame  # noqa: E402
from greenllm.load.client import run_requests  # noqa: E402

WORKLOAD = {"id": "M-32", "input_tokens": 500, "output_tokens": 32}


async def ttft_p50_ms(url: str, trust_env: bool, offsets: np.ndarray, seed: int) -> float:
    records = await run_requests(url, "m", WORKLOAD, offsets, seed=seed, timeout_s=30,
                                 trust_env=trust_env)
    return 1e3 * compute_metrics(records_to_frame(records)).ttft_s["p50"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=7.9, help="requests per second")
    parser.add_argument("--requests", type=int, default=80, help="requests per run")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    ports: mp.Queue = mp.Queue()
    server = mp.Process(target=serve_forever,
                        args=(Behavior(ttft_s=0.020, tbt_s=0.002), ports, None), daemon=True)
    server.start()
    results: dict[bool, list[float]] = {False: [], True: []}
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=20)}"
        asyncio.run(ttft_p50_ms(url, True, np.zeros(4), 0))  # warm up imports, the pool
        for r in range(args.rounds):
            for trust_env in ((False, True) if r % 2 == 0 else (True, False)):
                offsets = arrival_offsets_s("poisson", args.rate, args.requests, seed=r)
                results[trust_env].append(asyncio.run(ttft_p50_ms(url, trust_env, offsets, r)))
    finally:
        server.terminate()
        server.join(5)

    print(f"{args.rounds} rounds of {args.requests} requests at {args.rate:g} req/s, "
          "server TTFT programmed at 20 ms (local, no GPU)")
    for trust_env, values in results.items():
        print(f"trust_env={trust_env!s:5}: TTFT p50 per round "
              f"{', '.join(f'{v:.3f}' for v in values)} ms; median {np.median(values):.3f} ms")
    diff = np.array(results[True]) - np.array(results[False])
    print(f"paired difference (True - False): median {np.median(diff):.3f} ms, "
          f"range {diff.min():.3f} to {diff.max():.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
