"""Waves: the same batch of requests again and again, hooks outside the timed spans; and
the sampler-overhead benchmark's waves mode end to end on the simulated engine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sse_test_server import Behavior

from greenllm.errors import ConfigError
from greenllm.gpu.factory import open_gpus
from greenllm.load.waves import run_waves_sync
from greenllm.load.workloads import Workload

ROOT = Path(__file__).resolve().parents[2]
WL = Workload("T", 16, 12)


def test_every_wave_sends_the_same_requests_with_hooks_outside_its_span(sse):
    sse.server.configure(Behavior(ttft_s=0.01, tbt_s=0.002))
    calls: list[tuple[str, int, float]] = []
    waves = run_waves_sync(
        sse.url, "m", WL, size=5, duration_s=30, max_waves=4, seed=3, timeout_s=10,
        before=lambda k: calls.append(("before", k, time.monotonic())),
        after=lambda k: calls.append(("after", k, time.monotonic())))
    assert [w.index for w in waves] == [0, 1, 2, 3]
    assert all(w.failed == 0 and w.tokens == 5 * 12 for w in waves)
    bodies = sse.server.bodies
    assert len(bodies) == 20
    prompts = [tuple(b["prompt"]) for b in bodies]
    # the same five prompts in every wave (order within a wave is the send order's)
    assert all(sorted(prompts[5 * k:5 * k + 5]) == sorted(prompts[:5]) for k in range(4))
    assert len(set(prompts[:5])) == 5 and {b["max_tokens"] for b in bodies} == {12}
    ids = [r.request_id for w in waves for r in w.records]
    assert len(set(ids)) == 20
    assert [(c[0], c[1]) for c in calls] == [(s, k) for k in range(4) for s in ("before", "after")]
    for w in waves:
        before = next(t for s, k, t in calls if s == "before" and k == w.index)
        after = next(t for s, k, t in calls if s == "after" and k == w.index)
        first_send = min(r.send_s for r in w.records)
        last_end = max(r.end_s for r in w.records)
        assert before <= w.t0 <= first_send and last_end <= w.t1 <= after
        # every request of a wave is sent at once, not one after another
        assert max(r.send_s for r in w.records) - first_send < 0.01
        assert w.t1 - w.t0 >= 0.01 + 11 * 0.002
    # waves follow one another: the next starts after the previous ended
    assert all(b.t0 >= a.t1 for a, b in zip(waves, waves[1:], strict=False))


def test_the_duration_ends_the_run_after_the_wave_in_progress(sse):
    sse.server.configure(Behavior(ttft_s=0.05, tbt_s=0.0))
    waves = run_waves_sync(sse.url, "m", WL, size=2, duration_s=0.12, seed=0, timeout_s=10)
    # no wave starts after the deadline (the run's clock starts before the first wave)
    assert 2 <= len(waves) <= 4 and waves[-1].t0 < waves[0].t0 + 0.12 < waves[-1].t1
    assert all(w.failed == 0 for w in waves)


def test_a_dead_server_ends_the_run_after_one_wave(closed_port_url):
    waves = run_waves_sync(closed_port_url, "m", WL, size=3, duration_s=30, seed=0,
                           timeout_s=5)
    assert len(waves) == 1 and waves[0].failed == 3
    assert all(r.error for r in waves[0].records)


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 0}, "wave size"), ({"size": True}, "wave size"),
    ({"duration_s": 0}, "duration"), ({"max_waves": 0}, "max waves"),
])
def test_bad_arguments_are_one_line(kwargs, match):
    args = {"size": 2, "duration_s": 1.0, "seed": 0, "timeout_s": 5} | kwargs
    with pytest.raises(ConfigError, match=match):
        run_waves_sync("http://127.0.0.1:1", "m", WL, **args)


def test_overhead_benchmark_waves_on_the_simulated_engine(tmp_path: Path, sim_1b_server: str):
    """`sampler_vllm_overhead.py --load waves` against the simulated server, sampling a
    simulated GPU: one phase per wave, on and off alternating, each wave's work counted by
    the engine equal to what the client received, and the comparison made."""
    state = tmp_path / "gpu.json"
    open_gpus("sim", [0], state, sim_count=1)
    out = tmp_path / "ovh.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/sampler_vllm_overhead.py"), "--base-url",
         sim_1b_server, "--model", "m", "--workload", "S-S", "--load", "waves", "--wave-n", "8",
         "--duration-s", "4", "--settle-s", "0.3", "--backend", "sim", "--sim-state",
         str(state), "--json", str(out)],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    (only,) = doc["runs"]
    phases = only["phases"]
    assert len(phases) >= 6
    assert [p[2] for p in phases] == [k % 2 == 1 for k in range(len(phases))]
    assert all(p[3] == 8 * 50 for p in phases)  # S-S: 50 tokens each, counted by the engine
    assert only["requests"] == 8 * len(phases) and only["failed"] == 0
    assert only["sampler_ticks"] > 0 and only["primary"] == "server"
    assert only["server"]["pairs"] >= 2 and 0.5 < only["server"]["ratio_on_off"] < 1.5
    assert "pooled (server counts, 1 run(s))" in run.stdout
