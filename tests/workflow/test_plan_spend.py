"""`greenllm plan`'s expected GPU-hours agree with what a run on the simulator spends."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenllm import plan as gplan
from greenllm.calibrate.virtual_campaign import CampaignPolicy, Settings, run_campaign
from greenllm.measure.adaptive import repeat_policy
from greenllm.plan.spend_estimate import expected_repeats, expected_spend, with_measure_defaults

ROOT = Path(__file__).resolve().parents[2]


def test_expected_repeats_follow_the_noise_and_the_cap():
    assert expected_repeats({"ttft_p50_s": 0.05}, 8, 0.005) == 3
    assert expected_repeats({"ttft_p50_s": 0.05}, 8, 0.04) == 5  # t(4) 0.04 / sqrt(5) < 5 %
    assert expected_repeats({"ttft_p50_s": 0.05, "e": 0.02}, 8, 0.10) == 8  # the cap


def test_plan_and_a_simulated_run_agree_within_20_percent():
    plan = gplan.plan_from_config({"preset": "smoke"}, ROOT)
    groups = with_measure_defaults(gplan.load_measure_groups(ROOT, plan.config))
    over = {"repeats": None, "ci_targets": {"ttft_p50_s": 0.5}, "max_repeats": 6}
    load = {**groups["load"], **over}
    policy = CampaignPolicy("adaptive", repeat_policy(None, over["ci_targets"], 6), True)
    run = run_campaign(plan, Settings(groups["search"], load, groups["slo"]), policy)
    expected = expected_spend(plan, ROOT, warm=True, noise_cv=0.05, load_overrides=over)
    assert run.engine_starts == expected["engine_starts"] == len(plan.instances)
    assert run.gpu_s_held / 3600 == pytest.approx(expected["gpu_h"], rel=0.20)
    assert run.gpu_s_in_windows < run.gpu_s_held
    # the run really went adaptive: every cell stopped on its (loose) target at 3 repeats
    assert run.stops() == {"targets_met": len(plan.cells)}
    assert expected["repeats"] == [3]


def test_plan_cli_prints_the_expected_spend(capsys):
    from greenllm.cli.main import main

    assert main(["plan", "--root", str(ROOT), "--preset", "smoke", "--expected"]) == 0
    out = capsys.readouterr().out
    assert "expected under the policies:" in out and "GPU-hours" in out


def test_plan_counts_the_engine_starts_the_repeats_are_spread_over():
    plan = gplan.plan_from_config({"preset": "smoke"}, ROOT)
    one = expected_spend(plan, ROOT, warm=True, load_overrides={"repeats": 4})
    two = expected_spend(plan, ROOT, warm=True,
                         load_overrides={"repeats": 4, "engine_starts": 2})
    assert one["engine_starts"] == len(plan.instances)
    assert two["engine_starts"] == 2 * len(plan.instances)
    # each start is held GPU time too: 90 s + 1.5 s per 1e9 params (the smoke model's ~1e9)
    extra_s = sum(e.gpus for e in one["instances"]) * 90
    assert (two["gpu_h"] - one["gpu_h"]) * 3600 == pytest.approx(extra_s, rel=0.1)


def test_plan_counts_only_the_starts_the_expected_repeats_reach():
    # loose targets: 3 expected repeats of a cap of 6; a start opens at rounds 0, 3 (k=2)
    # or 0, 2, 4 (k=3), so the rounds 0-2 meet one start, then two
    plan = gplan.plan_from_config({"preset": "smoke"}, ROOT)
    over = {"repeats": None, "ci_targets": {"ttft_p50_s": 0.5}, "max_repeats": 6}
    starts = {k: expected_spend(plan, ROOT, warm=True, noise_cv=0.05,
                                load_overrides={**over, "engine_starts": k})
              for k in (1, 2, 3)}
    assert starts[1]["repeats"] == [3]
    n = len(plan.instances)
    assert [starts[k]["engine_starts"] for k in (1, 2, 3)] == [n, n, 2 * n]
    assert starts[2]["gpu_h"] == pytest.approx(starts[1]["gpu_h"])
    assert starts[3]["gpu_h"] > starts[1]["gpu_h"]


def test_plan_cli_names_the_engine_starts(capsys):
    from greenllm.cli.main import main

    assert main(["plan", "--root", str(ROOT), "--preset", "smoke", "--config",
                 "load={repeats: 4, engine_starts: 2}"]) == 0
    out = capsys.readouterr().out
    plan = gplan.plan_from_config({"preset": "smoke"}, ROOT)
    n = len(plan.instances)
    assert f"instances: {n} ({2 * n} engine starts, load.engine_starts)" in out


def test_plan_cli_rejects_a_campaign_its_jobs_would_reject(capsys):
    # the smoke preset repeats once: two starts cannot share one repeat (measure's
    # preflight says so per instance; plan says it once, before any estimate)
    from greenllm.cli.main import main

    assert main(["plan", "--root", str(ROOT), "--preset", "smoke", "--config",
                 "load={engine_starts: 2}"]) == 2
    captured = capsys.readouterr()
    assert "GPU-h" not in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "load.engine_starts=2 is above the 1 repeat(s)" in err[0]
