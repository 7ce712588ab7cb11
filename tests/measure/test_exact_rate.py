"""`load.exact_rate`: every probe and load point sends at exactly its nominal rate.

The physics it claims (on the simulator, no mocks): a window of drawn Poisson gaps is
random in length, and energy per output token divides the window's energy by the tokens
that random length holds, so most of its repeat-to-repeat spread is the draw. Rescaling
the gaps to the nominal rate removes that part; latencies keep their own spread.
A `greenllm measure` run at exact rates: tests/measure/test_run_sim.py (absolute rates).
"""

from __future__ import annotations

import numpy as np
import pytest

from greenllm.calibrate.clock_sweep import shape_of
from greenllm.sim.hardware import GpuPerfSpec
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.virtual_load import Arrivals, VirtualInstance, point_metrics


def _values(exact: bool) -> dict[str, np.ndarray]:
    """Two metrics of one load point over 12 seeds."""
    inst = VirtualInstance(PerfModel(shape_of("llama2-7b"), GpuPerfSpec.h100_sxm(), 1), 64,
                           clock_mhz=1410)
    vals: dict[str, list[float]] = {"j_per_token": [], "ttft_p50_s": []}
    for seed in range(12):
        offsets = Arrivals(exact_rate=exact).offsets(2.0, 120, 1000 * (seed + 1))
        m = point_metrics(inst.run(512, 128, offsets), 128)
        for k in vals:
            vals[k].append(float(m[k]))
    return {k: np.asarray(v) for k, v in vals.items()}


@pytest.fixture(scope="module")
def values() -> dict[bool, dict[str, np.ndarray]]:
    return {exact: _values(exact) for exact in (False, True)}


def _cv(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1) / np.mean(v))


def test_exact_rates_cut_the_energy_spread_not_the_latency_one(values):
    drawn = {k: _cv(v) for k, v in values[False].items()}
    exact = {k: _cv(v) for k, v in values[True].items()}
    # the window's length was most of energy per token's spread ...
    assert exact["j_per_token"] < drawn["j_per_token"] / 3, (drawn, exact)
    # ... while TTFT's spread is its own (queueing), not the window's length
    assert exact["ttft_p50_s"] > drawn["ttft_p50_s"] / 3, (drawn, exact)


def test_the_campaign_benchmark_policy_draws_exact_rates():
    from greenllm.calibrate.virtual_campaign import CampaignPolicy
    from greenllm.measure.adaptive import RepeatPolicy

    pol = CampaignPolicy("adaptive", RepeatPolicy(), warm_search=True, exact_rate=True)
    assert pol.arrivals.offsets(4.0, 41, 7)[-1] == pytest.approx(10.0)
    baseline = CampaignPolicy("fixed", RepeatPolicy(fixed=5), warm_search=False)
    assert baseline.arrivals.offsets(4.0, 41, 7)[-1] != pytest.approx(10.0, rel=0.01)


def test_exact_rates_keep_the_energy_mean(values):
    """The default (since 2026-12-07) moves no mean: a drawn window's length is noise
    around the nominal one, so both conventions estimate the same energy per token
    (seen on an H100 at 6 and 16 req/s: reports/reference/h100-2026-12-07c-exact-default)."""
    drawn, exact = values[False]["j_per_token"], values[True]["j_per_token"]
    se = np.sqrt(drawn.var(ddof=1) / len(drawn) + exact.var(ddof=1) / len(exact))
    assert abs(drawn.mean() - exact.mean()) < 3 * se, (drawn.mean(), exact.mean(), se)


@pytest.mark.parametrize("load", ["paper", "smoke"])
def test_every_load_profile_sends_at_exact_rates_by_default(tmp_path, load):
    from greenllm.measure.compose import compose

    assert compose([f"out_dir={tmp_path}", f"load={load}"]).load.exact_rate is True
    assert compose([f"out_dir={tmp_path}", f"load={load}",
                    "load.exact_rate=false"]).load.exact_rate is False
