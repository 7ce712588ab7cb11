"""Mixed-step cost from token arrivals: synthetic engines with known step times, and the
probe benchmark against the simulated engine (whose pricing of the two regimes is known)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from greenllm.analysis.step_probe import step_cost
from greenllm.errors import GreenllmError

ROOT = Path(__file__).resolve().parents[2]


def engine(n_streams: int, duration_s: float, step_s, injections: list[tuple[float, float]],
           *, mixed_extra_s: float, arrival_extra_s: float = 0.0, jitter_s: float = 0.0,
           seed: int = 0, first_token_late: bool = False):
    """Token times of ``n_streams`` background requests, each getting a token at the end of
    every step; an injection (send, prefill-ready) joins the first step starting after it
    is ready, which takes ``mixed_extra_s`` longer; the step during which it was sent takes
    ``arrival_extra_s`` longer. ``first_token_late``: the injected first token is delivered
    with the *next* step's background tokens (as vLLM 0.26 was seen to on the H100).
    Returns (background, first tokens, sends)."""
    rng = np.random.default_rng(seed)
    t, ends, firsts = 0.0, [], []
    pending = sorted(injections)
    sent_in_step = list(pending)
    while t < duration_s:
        base = step_s(t) if callable(step_s) else step_s
        dt = base + rng.normal(0, jitter_s)
        joins = [inj for inj in pending if inj[1] <= t]
        if joins:
            pending = [inj for inj in pending if inj not in joins]
            dt += mixed_extra_s
        if any(t < s <= t + dt for s, _ in sent_in_step):
            dt += arrival_extra_s
        t += dt
        ends.append(t)
        if first_token_late:
            firsts.extend(t + (step_s(t) if callable(step_s) else step_s) for _ in joins)
        else:
            firsts.extend(t for _ in joins)
    background = [[e + 1e-4 * k for e in ends] for k in range(n_streams)]
    sends = [s for s, _ in sorted(injections)]
    return background, firsts, sends


def test_recovers_a_known_mixed_step_extra():
    inj = [(0.5 + 0.2 * i, 0.5 + 0.2 * i + 0.004) for i in range(20)]
    bg, firsts, sends = engine(6, 5.0, 0.012, inj, mixed_extra_s=0.005, arrival_extra_s=0.002,
                               jitter_s=0.0003)
    cost = step_cost(bg, firsts, sends)
    assert cost.injections == 20
    assert cost.base_ms == pytest.approx(12.0, abs=0.2)
    assert cost.mixed_ms == pytest.approx(17.0, abs=0.4)
    assert cost.before_ms == pytest.approx(14.0, abs=0.4)  # the step it arrived in
    assert cost.arrival_ms == pytest.approx(14.0, abs=0.4)
    assert cost.next_ms == pytest.approx(12.0, abs=0.3)
    assert cost.excess_ms == pytest.approx(7.0, abs=0.5)  # the window holds both


def test_a_first_token_delivered_a_step_late_still_counts():
    # the long step is the one *before* the gap that ends with the first token
    inj = [(0.5 + 0.2 * i, 0.5 + 0.2 * i) for i in range(20)]
    bg, firsts, sends = engine(5, 5.0, 0.003, inj, mixed_extra_s=0.007, jitter_s=0.0001,
                               seed=3, first_token_late=True)
    cost = step_cost(bg, firsts, sends)
    assert cost.mixed_ms == pytest.approx(3.0, abs=0.2)
    assert cost.before_ms == pytest.approx(10.0, abs=0.3)
    assert cost.excess_ms == pytest.approx(7.0, abs=0.4)


def test_no_excess_when_a_prefill_is_free():
    inj = [(0.5 + 0.2 * i, 0.5 + 0.2 * i) for i in range(15)]
    bg, firsts, sends = engine(4, 4.0, 0.008, inj, mixed_extra_s=0.0, jitter_s=0.0002, seed=1)
    assert abs(step_cost(bg, firsts, sends).excess_ms) < 0.5


def test_the_baseline_is_local_when_decode_steps_lengthen():
    # decode steps growing from 10 to 20 ms as contexts grow: a run-wide median baseline
    # would put early mixed steps below it; the local one still finds the 3 ms
    inj = [(0.5 + 0.25 * i, 0.5 + 0.25 * i) for i in range(24)]
    bg, firsts, sends = engine(4, 7.0, lambda t: 0.010 + 0.010 * t / 7.0, inj,
                               mixed_extra_s=0.003, seed=2)
    assert step_cost(bg, firsts, sends).excess_ms == pytest.approx(3.0, abs=0.3)


def test_failed_and_late_injections_are_skipped_and_nothing_found_is_an_error():
    inj = [(0.5 + 0.2 * i, 0.5 + 0.2 * i) for i in range(10)]
    bg, firsts, sends = engine(3, 3.0, 0.01, inj, mixed_extra_s=0.004)
    assert len(firsts) == 10
    firsts = [*firsts[:4], math.nan, *firsts[5:], 9.0]  # one failed, one after the background
    sends = [*sends, 8.9]
    cost = step_cost(bg, firsts, sends)
    assert cost.injections == 9 and cost.excess_ms == pytest.approx(4.0, abs=0.1)
    with pytest.raises(GreenllmError, match="coincided"):
        step_cost(bg, [9.0], [8.9])
    with pytest.raises(GreenllmError, match="no background"):
        step_cost([[1.0]], [1.0], [0.9])


def test_probe_measures_the_simulated_engines_eager_regime(tmp_path: Path, sim_1b_server: str):
    """On the simulator, a mixed batch above the CUDA-graph capture size (2 x max-num-seqs)
    is priced without a graph (eager launches per layer); below it, with one. The probe,
    reading only token arrivals, must see that difference."""
    out = tmp_path / "probe.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/mixed_step_probe.py"), "--base-url",
         sim_1b_server, "--model", "m", "--background", "4", "--background-output", "600",
         "--prompts", "4,200", "--injections", "8", "--interval-s", "0.15",
         "--start-s", "0.3", "--json", str(out)],
        capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    small, large = json.loads(out.read_text())["probes"]
    assert small["step_tokens"] == 8 and large["step_tokens"] == 204
    assert small["injections"] >= 5 and large["injections"] >= 5
    assert abs(small["excess_ms"]) < 1.5  # graph-launched: a tiny prefill is ~free
    assert large["excess_ms"] > small["excess_ms"] + 2.0  # eager: 22 layers of launches
