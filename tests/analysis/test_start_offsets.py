"""greenllm.analysis.start_offsets: the run-to-run spread split into within a start and
start to start, checked on synthetic repeats with known components and on a real
simulated run (`load.engine_starts=2`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from greenllm.analysis.start_offsets import main, start_offsets, sums
from simtest_helpers import TINY_SIM_MEASURE, measure_cli


def _table(start_cv: float, within_cv: float, points=300, starts=3, per_start=2, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(points):
        for s in range(starts):
            offset = rng.normal(0, start_cv)
            for r in range(per_start):
                rows.append({"instance_id": "i", "clock_label": "native", "workload_id": "M-M",
                             "load_point": f"p{p}", "repeat": s * per_start + r,
                             "engine_start": float(s),
                             "ttft_p50_s": 0.05 * math.exp(offset + rng.normal(0, within_cv))})
    return pd.DataFrame(rows)


def test_balanced_sums_are_the_textbook_anova():
    ss = sums([1.0, math.e, math.e ** 2, math.e ** 4], [0, 0, 1, 1])
    # logs 0, 1 | 2, 4: within (0.5^2 * 2) + (1^2 * 2) = 2.5, between 2 * (0.5-1.75)^2 * 2
    assert ss.within == pytest.approx(2.5) and ss.df_within == 2
    assert ss.between == pytest.approx(6.25) and ss.df_between == 1 and ss.n0 == 2
    assert sums([1.0, 2.0], [0, 0]) is None  # one start: nothing to split


@pytest.mark.parametrize("start_cv, within_cv", [(0.10, 0.05), (0.0, 0.08)])
def test_pooled_components_recover_the_truth(start_cv, within_cv):
    (row,) = start_offsets(_table(start_cv, within_cv), ["ttft_p50_s"]).itertuples()
    assert row.points == 300
    assert row.within_cv_pooled == pytest.approx(within_cv, rel=0.08)
    assert row.start_cv_pooled == pytest.approx(start_cv, abs=0.012)


def test_a_run_with_one_start_is_a_clear_error():
    table = _table(0.1, 0.1, points=2).assign(engine_start=np.nan)
    with pytest.raises(ValueError, match="load.engine_starts=1"):
        start_offsets(table)


def test_cli_on_a_simulated_run_over_two_starts(tmp_path, capsys):
    run = measure_cli(tmp_path, [*TINY_SIM_MEASURE, "clocks.mhz=[1980]", "load.points=[]",
                                 "load.rates_rps=[3]", "load.requests_per_point=8",
                                 "load.repeats=4", "load.engine_starts=2"])
    assert run.returncode == 0, run.stderr[-2000:]
    assert main([str(tmp_path / "raw")]) == 0
    out = capsys.readouterr().out
    assert "over 2 engine starts" in out
    assert [ln.split()[0] for ln in out.splitlines()[3:]] == [
        "ttft_p50_s", "tbt_p50_s", "energy_per_output_token_j", "power_mean_w"]
    assert main([str(tmp_path / "nothing")]) == 2
    assert "start_offsets:" in capsys.readouterr().err


def test_runs_as_starts_on_the_h100_six_start_set(capsys):
    # reports/reference/h100-2026-12-08b-starts: each arm in three vLLM starts (separate
    # runs). Full windows: their three starts differ no more than their windows do; half
    # windows: one slow start (TTFT p50 ~ +40 % at 16 req/s) shows as a start component.
    from pathlib import Path

    ref = Path(__file__).resolve().parents[2] / "reports/reference/h100-2026-12-08b-starts"
    arm = str(ref / "h100_llama-1b_tp1_b64_arm_{}")
    start = {}
    for name, runs in (("full", ("exact", "exact2", "exact3")),
                       ("half", ("half", "half2", "half3"))):
        assert main(["--runs-as-starts", *(arm.format(r) for r in runs)]) == 0
        rows = {ln.split()[0]: ln.split() for ln in capsys.readouterr().out.splitlines()[3:]}
        start[name] = float(rows["ttft_p50_s"][5].rstrip("%"))
        assert float(rows["ttft_p50_s"][4].rstrip("%")) > 5  # within a start: windows vary
    assert start["full"] < 2 < 10 < start["half"]
    assert main(["--runs-as-starts", arm.format("exact")]) == 2
    assert "two or more" in capsys.readouterr().err
