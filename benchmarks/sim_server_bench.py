"""CPU cost of the simulated server per emitted token (run on demand, not in CI).

Starts ``python -m greenllm.sim.server`` (1.1B Llama shape, TP1, a SimGpu state file)
on a free 127.0.0.1 port, keeps ``--streams`` streaming requests in flight for
``--duration-s`` seconds with a minimal aiohttp client (counts SSE events, no JSON
parsing), and prints the server's CPU time per emitted token (from /proc/<pid>/stat),
its CPU use as a fraction of one core, the token rate, and the client-observed
inter-token gap beside the performance model's iteration time.

    .venv/bin/python benchmarks/sim_server_bench.py [--streams 64] [--duration-s 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from greenllm.engine.ports import free_port
from greenllm.gpu.sim import SimGpu
from greenllm.load.model_folder import llama_config
from greenllm.load.shapes import SHAPES
from greenllm.sim import Calibration, ModelShape, PerfModel, server_argv
from greenllm.sim.launch import wait_healthy

# The package's 1.1B Llama shape (as the sim tests use), not a copy of its numbers.
TINY_CONFIG = llama_config(SHAPES["llama-1b"], "tiny", max_position_embeddings=4096)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 30) -> None:
    if wait_healthy(url, proc, timeout_s):
        return
    if proc.poll() is not None:
        raise SystemExit(f"server exited with {proc.returncode}")
    raise SystemExit("server did not become ready")


async def stream_worker(session, url, body, stop_at, gaps, counts) -> None:
    while time.monotonic() < stop_at:
        async with session.post(url + "/v1/completions", json=body) as resp:
            last = None
            async for data in resp.content.iter_any():
                now = time.monotonic()
                n = data.count(b"data: {")
                if n:
                    counts[0] += n
                    if last is not None:
                        gaps.append((now - last) / n)
                    last = now


async def run(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="greenllm-simbench-"))
    (tmp / "model").mkdir()
    (tmp / "model" / "config.json").write_text(json.dumps(TINY_CONFIG))
    gpu = SimGpu.create(tmp / "gpu.state", 1)
    port = free_port()
    argv = server_argv(
        tmp / "model",
        served_model_name="tiny",
        max_num_seqs=args.streams,
        max_model_len=4096,
        gpu_state=tmp / "gpu.state",
        port=port,
        disable_log_requests=True,
        calibration=dict(kv.split("=", 1) for kv in args.calibration),
    )
    if os.environ.get("SIM_BENCH_WRAPPER"):  # e.g. a profiling runner script
        argv = [argv[0], os.environ["SIM_BENCH_WRAPPER"], *argv[3:]]
    log_fh = (tmp / "server.log").open("w")
    proc = subprocess.Popen(argv, stdout=log_fh, stderr=subprocess.PIPE)  # noqa: ASYNC220
    print(f"server log: {tmp / 'server.log'}")
    url = f"http://127.0.0.1:{port}"
    try:
        # Blocking is fine here: nothing else runs on the loop before the server is up.
        wait_ready(url, proc)
        body = {
            "model": "tiny",
            "prompt": list(range(args.prompt_tokens)),
            "max_tokens": args.output_tokens,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        gaps: list[float] = []
        counts = [0]
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as session:
            # warm-up so every stream is in decode before measuring
            stop_at = time.monotonic() + args.duration_s + 2.0
            tasks = [
                asyncio.create_task(stream_worker(session, url, body, stop_at, gaps, counts))
                for _ in range(args.streams)
            ]
            await asyncio.sleep(2.0)
            c0, t0, n0 = cpu_seconds(proc.pid), time.monotonic(), counts[0]
            gaps.clear()
            await asyncio.sleep(args.duration_s)
            c1, t1, n1 = cpu_seconds(proc.pid), time.monotonic(), counts[0]
            await asyncio.gather(*tasks)
        tokens = n1 - n0
        cpu = c1 - c0
        overrides = dict(kv.split("=", 1) for kv in args.calibration)
        perf = PerfModel(
            ModelShape.from_config_json(tmp / "model"),
            calibration=Calibration().with_overrides(overrides),
        )
        model_iter = perf.decode_cost(args.streams, args.prompt_tokens + args.output_tokens // 2)
        print(
            f"streams={args.streams} prompt={args.prompt_tokens} output={args.output_tokens} "
            f"window={t1 - t0:.1f}s"
        )
        print(f"tokens emitted in window: {tokens} ({tokens / (t1 - t0):.0f} tok/s)")
        print(
            f"server CPU: {cpu:.2f} s = {100 * cpu / (t1 - t0):.0f}% of one core; "
            f"{1e6 * cpu / max(tokens, 1):.1f} us CPU per emitted token"
        )
        if gaps:
            print(
                f"client inter-token gap: p50 {1e3 * statistics.median(gaps):.2f} ms, "
                f"mean {1e3 * statistics.fmean(gaps):.2f} ms; model decode iteration "
                f"(batch {args.streams}) {1e3 * model_iter.duration_s:.2f} ms"
            )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        gpu.close()
        log_fh.close()
        err = proc.stderr.read().decode() if proc.stderr else ""
        if err.strip():
            print("server stderr:", err.strip()[-2000:], file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=64)
    p.add_argument("--duration-s", type=float, default=10.0)
    p.add_argument("--prompt-tokens", type=int, default=100)
    p.add_argument("--output-tokens", type=int, default=256)
    p.add_argument(
        "--calibration",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to the server, e.g. per_sequence_overhead_s=0 for ~2 ms iterations",
    )
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
