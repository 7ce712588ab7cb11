"""`load.exact_rate`: every probe and load point sends at exactly its nominal rate.

The physics it claims (on the simulator, no mocks): a window of drawn Poisson gaps is
random in length, and energy per output token divides the window's energy by the tokens
that random length holds, so most of its repeat-to-repeat spread is the draw. Rescaling
the gaps to the nominal rate removes that part; latencies keep their own spread.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from greenllm.calibrate.clock_sweep import shape_of
from greenllm.calibrate.reference import load_reference
from greenllm.sim.hardware import GpuPerfSpec
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.virtual_load import Arrivals, VirtualInstance, point_metrics
from simtest_helpers import TINY_SIM_MEASURE, measure_cli

TINY = [*TINY_SIM_MEASURE, "clocks.mhz=[1980]", "load.requests_per_point=12", "load.repeats=2"]


def _spreads(exact: bool) -> dict[str, float]:
    """Coefficient of variation over 12 seeds of three metrics at one load point."""
    inst = VirtualInstance(PerfModel(shape_of("llama2-7b"), GpuPerfSpec.h100_sxm(), 1), 64,
                           clock_mhz=1410)
    vals: dict[str, list[float]] = {"j_per_token": [], "ttft_p50_s": []}
    for seed in range(12):
        offsets = Arrivals(exact_rate=exact).offsets(2.0, 120, 1000 * (seed + 1))
        m = point_metrics(inst.run(512, 128, offsets), 128)
        for k in vals:
            vals[k].append(float(m[k]))
    return {k: float(np.std(v, ddof=1) / np.mean(v)) for k, v in vals.items()}


def test_exact_rates_cut_the_energy_spread_not_the_latency_one():
    drawn, exact = _spreads(False), _spreads(True)
    # the window's length was most of energy per token's spread ...
    assert exact["j_per_token"] < drawn["j_per_token"] / 3, (drawn, exact)
    # ... while TTFT's spread is its own (queueing), not the window's length
    assert exact["ttft_p50_s"] > drawn["ttft_p50_s"] / 3, (drawn, exact)


def test_a_measure_run_sends_at_the_nominal_rate_and_records_it(tmp_path):
    run = measure_cli(tmp_path, [*TINY, "load.exact_rate=true"])
    assert run.returncode == 0, run.stderr[-2000:]
    cell = next((tmp_path / "raw/cells").rglob("summary.json")).parent
    summary = json.loads((cell / "summary.json").read_text())
    rate = {lp["repeat"]: lp["rate_rps"] for lp in summary["load_points"]}
    assert len(rate) == 2
    for r, nominal in rate.items():
        frame = pd.read_parquet(cell / f"requests.r{r}.parquet")
        sends = np.sort(frame.loc[frame["point"] == "low", "send_s"].to_numpy(dtype=float))
        # the schedule spans exactly (n - 1) gaps of 1/rate; the client's send jitter is ms
        assert sends[-1] - sends[0] == pytest.approx((len(sends) - 1) / nominal, rel=0.03)
    config = json.loads((tmp_path / "raw/instance.json").read_text())["config"]
    assert config["load"]["exact_rate"] is True
    # the calibration check replays the run's arrivals as they were drawn
    assert {c.exact_rate for c in load_reference(tmp_path / "raw")} == {True}


def test_the_campaign_benchmark_policy_draws_exact_rates():
    from greenllm.calibrate.virtual_campaign import CampaignPolicy
    from greenllm.measure.adaptive import RepeatPolicy

    pol = CampaignPolicy("adaptive", RepeatPolicy(), warm_search=True, exact_rate=True)
    assert pol.arrivals.offsets(4.0, 41, 7)[-1] == pytest.approx(10.0)
    today = CampaignPolicy("fixed", RepeatPolicy(fixed=5), warm_search=False)
    assert today.arrivals.offsets(4.0, 41, 7)[-1] != pytest.approx(10.0, rel=0.01)
