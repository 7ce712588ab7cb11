"""Adaptive repeats: a cell stops when its CI targets are met, or at the cap, and says which."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from greenllm.analysis.uncertainty import bootstrap_median_ci, median_ci
from greenllm.errors import ConfigError
from greenllm.measure import adaptive
from greenllm.measure.adaptive import STOP_CAP, STOP_FIXED, STOP_TARGETS_MET, decide
from simtest_helpers import TINY_SIM_MEASURE, finish, measure_cli


def _noisy(n: int, cv: float, seed: int = 0) -> list[float]:
    return list(1.0 + cv * np.random.default_rng(seed).standard_normal(n))


def test_half_width_is_the_statistics_tables_interval():
    values = [1.0, 1.1, 0.95, 1.02]
    lo, hi = median_ci(values)
    width = adaptive.relative_half_width(values)
    assert width >= (hi - lo) / 2 / np.median(values)  # never narrower than the table's CI
    t_half = 3.182 * np.std(values, ddof=1) / 2 / np.median(values)
    assert width == pytest.approx(max(t_half, (hi - lo) / 2 / np.median(values)))
    assert adaptive.relative_half_width([1.0, 1.1]) is None  # no CI below 3 repeats


def test_three_values_that_agree_by_chance_need_more_than_their_range():
    # CV 10 %: a third of triples lie within +-5 % by chance; the bootstrap interval
    # alone (their range) would stop them, the t interval asks for 2-3x less spread first
    rng = np.random.default_rng(7)
    stopped_by_range = stopped = 0
    for _ in range(500):
        v = 1.0 + 0.1 * rng.standard_normal(3)
        lo, hi = bootstrap_median_ci(v)
        stopped_by_range += (hi - lo) / 2 / np.median(v) <= 0.05
        stopped += adaptive.relative_half_width(v) <= 0.05
    assert stopped_by_range > 100 and stopped < stopped_by_range / 3


def test_tight_metric_stops_at_three_noisy_one_runs_to_the_cap():
    policy = adaptive.repeat_policy(None, {"ttft_p50_s": 0.05}, 6)
    tight = {("medium", "ttft_p50_s"): _noisy(3, 0.005)}
    d = decide(policy, tight, 3)
    assert d.stop and d.reason == STOP_TARGETS_MET
    assert d.widths[("medium", "ttft_p50_s")] < 0.05
    # two repeats never stop an adaptive cell: there is no interval yet
    assert not decide(policy, {k: v[:2] for k, v in tight.items()}, 2).stop
    noisy = {("medium", "ttft_p50_s"): _noisy(5, 0.3)}
    assert not decide(policy, noisy, 5).stop
    d = decide(policy, {("medium", "ttft_p50_s"): _noisy(6, 0.3)}, 6)
    assert d.stop and d.reason == STOP_CAP and d.widths[("medium", "ttft_p50_s")] > 0.05


def test_every_point_and_metric_must_meet_its_target():
    policy = adaptive.repeat_policy(None, {"ttft_p50_s": 0.05, "energy_per_output_token_j": 0.02}, 8)
    values = {("low", "ttft_p50_s"): _noisy(4, 0.001), ("medium", "ttft_p50_s"): _noisy(4, 0.001),
              ("medium", "energy_per_output_token_j"): _noisy(4, 0.05, seed=3)}
    assert not decide(policy, values, 4).stop
    # a metric never measured (no energy window: NaN) cannot meet its target
    values[("medium", "energy_per_output_token_j")] = [math.nan] * 4
    assert not decide(policy, values, 4).stop


def test_each_point_stops_on_its_own_and_the_cell_when_none_is_open():
    policy = adaptive.repeat_policy(None, {"ttft_p50_s": 0.05}, 5, "point")
    values = {("low", "ttft_p50_s"): _noisy(3, 0.005),
              ("high", "ttft_p50_s"): _noisy(3, 0.3, seed=1)}
    d = decide(policy, values, 3)
    assert not d.stop and d.open_points == {"high"}
    assert d.points["low"] == STOP_TARGETS_MET and d.points["high"] is None
    # later repeats measure only the open point: low keeps its three values
    values[("high", "ttft_p50_s")] = _noisy(5, 0.3, seed=1)
    d = decide(policy, values, 5)
    assert d.stop and d.reason == STOP_CAP
    assert d.points == {"low": STOP_TARGETS_MET, "high": STOP_CAP}
    assert d.point_repeats == {"low": 3, "high": 5}
    # both met: the cell's reason is targets_met
    quiet = {("low", "ttft_p50_s"): _noisy(3, 0.005), ("high", "ttft_p50_s"): _noisy(4, 0.005, 2)}
    d = decide(policy, quiet, 4)
    assert d.stop and d.reason == STOP_TARGETS_MET
    # stop_per=cell: the quiet point waits for the noisy one, every point stays open
    per_cell = adaptive.repeat_policy(None, {"ttft_p50_s": 0.05}, 5, "cell")
    d = decide(per_cell, {k: v[:3] for k, v in values.items()}, 3)
    assert not d.stop and d.open_points == {"low", "high"}
    assert adaptive.skipped_points(per_cell, None) == set()


def test_fixed_count_is_kept_as_an_option():
    policy = adaptive.repeat_policy(5, None, 8)
    assert not policy.adaptive and policy.cap == 5
    assert not decide(policy, {}, 4).stop
    d = decide(policy, {}, 5)
    assert d.stop and d.reason == STOP_FIXED


@pytest.mark.parametrize(("repeats", "targets", "cap", "message"), [
    (None, {"ttft_p50_s": 0.0}, 5, "ci_targets.ttft_p50_s must be a relative half-width > 0"),
    (None, {"ttft_p50_s": -0.1}, 5, "> 0"),
    (None, {"ttft_p50_s": "wide"}, 5, "> 0"),
    (None, {"ttft_p50_s": 0.05}, 1, "load.max_repeats must be an integer >= 2"),
    (None, {}, 5, "ci_targets is empty"),
    (0, None, 5, "load.repeats must be a positive integer"),
])
def test_bad_policy_is_one_line(repeats, targets, cap, message):
    with pytest.raises(ConfigError, match=message) as err:
        adaptive.repeat_policy(repeats, targets, cap)
    assert "\n" not in str(err.value)


def test_each_point_stops_on_its_own_by_default():
    """The paper preset, the config dataclass and the policy all default to stop_per=point
    (intervals at 3-4 repeats are widened, so per-point stops keep their coverage)."""
    from greenllm.measure.compose import compose
    from greenllm.measure.config import LoadCfg

    cfg = compose(["load=paper", "out_dir=/tmp/unused"])
    assert cfg.load.stop_per == "point" and adaptive.policy_from_cfg(cfg.load).per_point
    assert LoadCfg().stop_per == "point"
    assert adaptive.repeat_policy(None, {"ttft_p50_s": 0.05}, 5).per_point
    assert not adaptive.repeat_policy(None, {"ttft_p50_s": 0.05}, 5, "cell").per_point


def test_unknown_stop_per_is_one_line():
    with pytest.raises(ConfigError, match="load.stop_per must be one of point, cell") as err:
        adaptive.repeat_policy(None, {"ttft_p50_s": 0.05}, 5, "repeat")
    assert "\n" not in str(err.value)


def test_summary_values_follow_the_cells_table_names():
    lps = [{"name": "medium", "repeat": r, "rate_rps": 2.0, "ttft_s": {"p50": 0.1 + r / 100},
            "energy": {"energy_per_output_token_j": 0.5}} for r in range(3)]
    lps.append({"name": "high", "repeat": 0, "rate_rps": None, "flags": ["no_max_throughput"]})
    values = adaptive.summary_values(lps, ["ttft_p50_s", "energy_per_output_token_j"])
    assert values[("medium", "ttft_p50_s")] == pytest.approx([0.10, 0.11, 0.12])
    assert values[("medium", "energy_per_output_token_j")] == [0.5] * 3
    assert not any(point == "high" for point, _ in values)


# --- end to end on the simulated GPU + engine ----------------------------------------

TINY = [
    *TINY_SIM_MEASURE, "clocks.mhz=[1980]", "load.repeats=null",
    # an absolute rate: no search, so every repeat has a measured point to judge
    "load.points=[]", "load.rates_rps=[3]",
]


# Hydra merges a mapping override into the default targets: loosen all three.
LOOSE = "load.ci_targets={ttft_p50_s:10.0,tbt_p50_s:10.0,energy_per_output_token_j:10.0}"


def _measure(tmp_path, *overrides, wait=True):
    return measure_cli(tmp_path, [*TINY, *overrides], wait=wait)


def test_measure_stops_each_cell_and_the_table_says_why(tmp_path):
    from greenllm.analysis.cells import load_summary
    from greenllm.analysis.flatten import rows_to_frame, summary_rows

    # The capped run and the loose one side by side (independent folders and servers).
    capped = _measure(tmp_path, "load.max_repeats=3", "load.ci_targets={ttft_p50_s:1e-9}",
                      wait=False)
    loose = _measure(tmp_path / "b", "load.max_repeats=6", LOOSE, wait=False)
    run, loose = finish(capped, 240), finish(loose, 240)
    assert run.returncode == 0, run.stderr[-2000:]
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    s = load_summary(path)
    assert s["status"] == "ok" and s["repeats_done"] == 3
    assert s["repeat_policy"]["stopped"] == STOP_CAP
    assert s["repeat_policy"]["half_widths"]["r3"]["ttft_p50_s"] > 1e-9
    table = rows_to_frame(summary_rows(s, path))
    assert set(table["repeat_stop"]) == {STOP_CAP} and sorted(table["repeat"]) == [0, 1, 2]
    # loose targets: stopped at the first interval (3 repeats), and a rerun measures nothing
    assert loose.returncode == 0, loose.stderr[-2000:]
    (path,) = (tmp_path / "b/raw/cells").rglob("summary.json")
    s = load_summary(path)
    assert s["repeats_done"] == 3 and s["repeat_policy"]["stopped"] == STOP_TARGETS_MET
    again = _measure(tmp_path / "b", "load.max_repeats=6", LOOSE)
    assert "1/1 cells already measured, 0 to go" in again.stderr


def test_a_cell_measured_once_gets_its_interval_under_an_adaptive_rerun(tmp_path):
    # load.repeats=1 ends ok with one repeat; the adaptive default asks for an interval
    # (3 repeats at least), so a rerun under it resumes the cell instead of keeping it
    once = _measure(tmp_path, "load.repeats=1")
    assert once.returncode == 0, once.stderr[-2000:]
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    assert json.loads(path.read_text())["repeats_done"] == 1
    more = _measure(tmp_path, "load.max_repeats=4", LOOSE)
    assert more.returncode == 0, more.stderr[-2000:]
    assert "0/1 cells already measured, 1 to go" in more.stderr
    s = json.loads(path.read_text())
    assert s["repeats_done"] == 3 and s["repeat_policy"]["stopped"] == STOP_TARGETS_MET
    # judged again: done under the policy it stopped under (read off its record), not
    # under a tighter target (judged on its values)
    loose = {m: 10.0 for m in adaptive.DEFAULT_CI_TARGETS}
    assert not adaptive.wants_more_repeats(adaptive.repeat_policy(None, loose, 4), s)
    assert adaptive.wants_more_repeats(
        adaptive.repeat_policy(None, {**loose, "ttft_p50_s": 1e-9}, 4), s)
    # and one more rerun under the same policy measures nothing
    assert "1/1 cells already measured, 0 to go" in _measure(
        tmp_path, "load.max_repeats=4", LOOSE).stderr


def test_a_fixed_count_raised_or_a_cap_raised_wants_more_repeats():
    summary = {"status": "ok", "repeats_done": 3, "load_points": []}
    assert not adaptive.wants_more_repeats(adaptive.repeat_policy(3, None, 5), summary)
    assert adaptive.wants_more_repeats(adaptive.repeat_policy(5, None, 5), summary)
    # no values meet a target: capped at 3 it is done, capped at 4 it goes on
    assert not adaptive.wants_more_repeats(adaptive.repeat_policy(None, {"ttft_p50_s": 0.05}, 3),
                                           summary)
    assert adaptive.wants_more_repeats(adaptive.repeat_policy(None, {"ttft_p50_s": 0.05}, 4),
                                       summary)


@pytest.mark.parametrize(("override", "message"), [
    ("load.max_repeats=1", "load.max_repeats must be an integer >= 2"),
    ("load.ci_targets={energy_per_output_token_j:0}", "must be a relative half-width > 0"),
    ("load.stop_per=each", "load.stop_per must be one of point, cell"),
])
def test_bad_policy_stops_measure_before_the_engine(tmp_path, override, message):
    run = _measure(tmp_path, override)
    assert run.returncode != 0
    assert message in run.stderr and not (tmp_path / "raw/engine.log").exists()


def test_a_resumed_cell_measures_only_its_open_points(tmp_path):
    """load.stop_per=point through greenllm measure: a cell with a steady point and a noisy
    one (made so by editing its first three repeats) measures only the noisy one in its
    next repeat, records each point's stop, and the table rings only the capped point."""
    import json

    from greenllm.analysis.cells import load_summary
    from greenllm.analysis.flatten import rows_to_frame, summary_rows

    two = ["load.rates_rps=[2,4]"]
    first = _measure(tmp_path, *two, "load.repeats=3")
    assert first.returncode == 0, first.stderr[-2000:]
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    s = json.loads(path.read_text())
    assert sorted((p["name"], p["repeat"]) for p in s["load_points"]) == [
        (n, r) for n in ("r2", "r4") for r in range(3)]
    for p in s["load_points"]:  # r2 steady, r4 spread +-50 % over its three repeats
        p["ttft_s"]["p50"] = 0.1 if p["name"] == "r2" else 0.1 * (0.5 + 0.5 * p["repeat"])
    s["status"] = "partial"
    path.write_text(json.dumps(s))
    tight_ttft = "load.ci_targets={ttft_p50_s:0.05,tbt_p50_s:10.0,energy_per_output_token_j:10.0}"
    again = _measure(tmp_path, *two, "load.max_repeats=4", "load.stop_per=point", tight_ttft)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "load r4 repeat 4" in again.stderr and "load r2 repeat" not in again.stderr
    s = load_summary(path)
    assert s["status"] == "ok" and s["repeats_done"] == 4
    assert sorted(p["repeat"] for p in s["load_points"] if p["name"] == "r2") == [0, 1, 2]
    assert sorted(p["repeat"] for p in s["load_points"] if p["name"] == "r4") == [0, 1, 2, 3]
    points = s["repeat_policy"]["points"]
    assert points["r2"] == {"stopped": STOP_TARGETS_MET, "repeats": 3}
    assert points["r4"] == {"stopped": STOP_CAP, "repeats": 4}
    assert s["repeat_policy"]["stopped"] == STOP_CAP and s["repeat_policy"]["stop_per"] == "point"
    table = rows_to_frame(summary_rows(s, path))
    assert dict(zip(table["load_point"], table["repeat_stop"])) == {
        "r2": STOP_TARGETS_MET, "r4": STOP_CAP}
