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
    captured = capsys.readouterr()
    assert "expected under the policies:" in captured.out and "GPU-hours" in captured.out
    # progress of the simulated capacity searches, one line per instance, on stderr only
    progress = [ln for ln in captured.err.splitlines() if "expected spend: instance" in ln]
    assert len(progress) == 3 and progress[0].startswith("greenllm plan: ")
    assert "expected spend" not in captured.out


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


def _pilot_table(path: Path, cv_by_load: dict[str, float | tuple[float, ...]],
                 repeats: int = 4) -> Path:
    """A cells table of repeats whose TTFT, TBT and energy per token spread by about
    ``cv_by_load[load]`` (alternating +-cv: CV = cv * sqrt(n / (n - 1))); a tuple gives
    the load point of one workload per CV."""
    import pandas as pd

    def spread(cv: float | tuple[float, ...]) -> tuple[float, ...]:
        return cv if isinstance(cv, tuple) else (cv,)

    rows = [{"instance_id": "i", "clock_label": "native", "clock_mhz": 1980.0,
             "workload_id": f"W{w}", "load_point": load, "repeat": r, "status": "ok",
             **{m: 0.1 * (1 + c * (-1) ** r) for m in
                ("ttft_p50_s", "tbt_p50_s", "energy_per_output_token_j")}}
            for load, cv in cv_by_load.items() for w, c in enumerate(spread(cv))
            for r in range(repeats)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_noise_from_a_pilot_table_sizes_each_load_point(tmp_path):
    from greenllm.plan.spend_estimate import noise_from_table

    noise = noise_from_table(_pilot_table(tmp_path / "pilot.csv",
                                          {"low": 0.004, "medium": 0.08}), default=0.5)
    (low,) = noise.points("low", ["ttft_p50_s"])
    assert low["ttft_p50_s"] == pytest.approx(0.004 * (4 / 3) ** 0.5, rel=1e-6)
    assert noise.points("high", ["ttft_p50_s"]) == [{"ttft_p50_s": 0.5}]  # not in the pilot
    plan = gplan.plan_from_config({"preset": "smoke"}, ROOT)
    over = {"repeats": None, "ci_targets": {"ttft_p50_s": 0.05, "tbt_p50_s": 0.05,
                                            "energy_per_output_token_j": 0.05},
            "max_repeats": 6}
    exp = expected_spend(plan, ROOT, warm=True, noise_cv=noise, load_overrides=over)
    # quiet low points stop at the minimum 3; noisy medium ones need t(n-1) 9.2 % / sqrt(n)
    # <= 5 %: 6 (the cap); the smoke plan's loads are low and medium
    assert {k: v["repeats"] for k, v in exp["by_load"].items()} == {"low": 3, "medium": 6}
    flat = [expected_spend(plan, ROOT, warm=True, noise_cv=cv, load_overrides=over)["gpu_h"]
            for cv in (0.004, 0.08)]
    assert flat[0] < exp["gpu_h"] < flat[1]
    per_cell = expected_spend(plan, ROOT, warm=True, noise_cv=noise,
                              load_overrides={**over, "stop_per": "cell"})
    assert {v["repeats"] for v in per_cell["by_load"].values()} == {6}
    assert per_cell["gpu_h"] == pytest.approx(flat[1])


def test_a_load_point_is_sized_by_all_its_pilot_points_not_their_median(tmp_path):
    # two quiet points (3 repeats) and one noisy one (the cap, 6): 4 on average, and the
    # rounds run to 6 for the noisy one; the median point alone would say 3
    from greenllm.plan.spend_estimate import noise_from_table

    noise = noise_from_table(_pilot_table(tmp_path / "p.csv", {"low": (0.004, 0.005, 0.08)}))
    targets = dict.fromkeys(("ttft_p50_s", "tbt_p50_s", "energy_per_output_token_j"), 0.05)
    assert noise.repeats("low", targets, 6) == (pytest.approx(4.0), 6)
    assert noise.median_cvs("low", ["ttft_p50_s"])["ttft_p50_s"] == pytest.approx(
        0.005 * (4 / 3) ** 0.5, rel=1e-6)


def test_plan_cli_prints_the_noise_each_load_point_was_sized_at(tmp_path, capsys):
    from greenllm.cli.main import main

    pilot = _pilot_table(tmp_path / "pilot.csv", {"low": 0.004})
    assert main(["plan", "--root", str(ROOT), "--preset", "smoke", "--expected",
                 "--noise-from", str(pilot), "--noise-cv", "0.3",
                 "--config", "load={repeats: null}"]) == 0  # smoke repeats once: adaptive
    out = capsys.readouterr().out
    assert f"the noise of {pilot}" in out
    assert "low      noise CV ttft_p50_s 0.5%" in out
    assert "medium   noise CV ttft_p50_s 30.0%" in out  # not in the pilot: --noise-cv
    # with a fixed repeat count the pilot sizes nothing, and plan says so
    assert main(["plan", "--root", str(ROOT), "--preset", "smoke", "--expected",
                 "--noise-from", str(pilot)]) == 0
    assert "load.repeats is fixed: --noise-from sizes nothing" in capsys.readouterr().out


def test_a_pilot_of_single_repeats_is_one_clear_error(tmp_path, capsys):
    from greenllm.cli.main import main

    pilot = _pilot_table(tmp_path / "once.csv", {"low": 0.1}, repeats=1)
    assert main(["plan", "--root", str(ROOT), "--preset", "smoke", "--expected",
                 "--noise-from", str(pilot)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no load point has 2 or more repeats" in err[0]
    assert main(["plan", "--root", str(ROOT), "--preset", "smoke",
                 "--noise-from", str(pilot)]) == 2
    assert "add --expected" in capsys.readouterr().err


def test_the_budget_load_profile_composes_and_costs_about_three_eighths():
    # config/measure/load/budget.yaml: 3 fixed repeats of half windows; every instance's
    # measure config composes (the workflow's validation pass) and the expected spend is
    # about 3/5 x 1/2 of the paper profile's plus the probes and starts it keeps
    from greenllm.measure.preflight import plan_problems

    clocks = {"mode": "pin", "mhz": [1980]}
    paper = gplan.plan_from_config({"preset": "paper", "clocks": clocks}, ROOT)
    budget = gplan.plan_from_config({"preset": "paper", "clocks": clocks,
                                     "load": {"profile": "budget"}}, ROOT)
    assert plan_problems(budget, ROOT) == []
    groups = gplan.load_measure_groups(ROOT, budget.config)["load"]
    assert groups["repeats"] == 3 and groups["max_duration_s"] == 90
    full, cut = (expected_spend(p, ROOT, warm=True) for p in (paper, budget))
    assert cut["repeats"] == [3]
    assert 0.30 < cut["gpu_h"] / full["gpu_h"] < 0.45
