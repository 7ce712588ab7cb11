"""The planner on synthetic cells whose optimum is known."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_cells import cell_rows, grid

from greenllm.analysis.flatten import rows_to_frame
from greenllm.errors import ConfigError
from greenllm.recommend.cells import Config, Slo, build_models, models_by_config, power_at
from greenllm.recommend.load import Window, WorkloadShape, assign_workloads, mix_window
from greenllm.recommend.planner import Costs, Planner, estimate, saving

SHAPES = [WorkloadShape("S-S", 100, 50), WorkloadShape("M-M", 500, 128)]


def planner(table, costs: Costs | None = None, slo: Slo | None = None):
    models, notes = build_models(table, slo or Slo())
    return Planner(models_by_config(models), costs or Costs(n_gpus=8)), notes


def window(i, rate, wid="M-M", duration=300.0):
    w = mix_window(rate, {wid: 1.0}, SHAPES, duration_s=duration)
    return Window(i, i * duration, (i + 1) * duration, duration, w.rates_rps, w.n_requests,
                  w.output_tokens)


def test_a_point_whose_ci_upper_end_misses_the_slo_does_not_count():
    # the high point's median TTFT (0.95 s) meets the 1 s SLO, its CI's upper end does not
    rows = cell_rows(8, 1980, "M-M", ttft_hi_point=0.95, spread=0.05)
    models, _ = build_models(rows_to_frame(rows), Slo())
    (m,) = models
    assert m.has_ci
    assert len(m.rates_rps) == 2  # low and medium only
    # the planner's own tighter SLO: no search under it, so capacity = highest point
    models, notes = build_models(rows_to_frame(cell_rows(8, 1980, "M-M")), Slo(0.6, 0.05))
    (m,) = models
    assert len(m.rates_rps) == 2 and m.capacity_rps == pytest.approx(m.rates_rps[-1])
    assert "no search under it" in m.notes[0]


def test_power_interpolates_inside_and_bounds_outside():
    (m,) = build_models(rows_to_frame(cell_rows(8, 1980, "M-M", spread=0.0)), Slo())[0]
    r = m.rates_rps
    mid = power_at(m, (r[0] + r[1]) / 2)
    assert mid.note == "" and mid.mid == pytest.approx((m.power_w[0, 0] + m.power_w[0, 1]) / 2)
    low = power_at(m, r[0] / 10)
    assert low.note == "below_lowest_point" and low.mid == pytest.approx(m.power_w[0, 0])
    high = power_at(m, r[-1] * 1.05)
    assert high.note == "above_highest_point"
    assert high.mid == pytest.approx(m.power_w[0, -1] * 1.05)


def test_point_power_is_the_windows_measured_power_not_energy_per_request_x_nominal_rate():
    # Poisson arrivals put a short window's requests off the nominal rate: here 20 % more
    # arrived than nominal, so energy per request is the power over the *achieved* rate;
    # multiplying it back by the nominal rate would read 1/1.2 of the power.
    rows = cell_rows(8, 1980, "M-M", spread=0.0)
    for row in rows:
        row["energy_per_request_j"] = row["power_mean_w"] / (1.2 * row["rate_rps"])
    (m,) = build_models(rows_to_frame(rows), Slo())[0]
    want = sorted({row["power_mean_w"] for row in rows})
    assert m.power_w[0] == pytest.approx(want)
    # a table without power_mean_w (older runs): energy per request x rate is the fallback
    for row in rows:
        del row["power_mean_w"]
    (m,) = build_models(rows_to_frame(rows), Slo())[0]
    assert m.power_w[0] == pytest.approx([w / 1.2 for w in want])


def test_instances_fill_the_node_and_utilisation_is_shared():
    p, _ = planner(grid())
    cfg = Config(2, 64, 1980)
    cells = p.by_config[cfg]
    # TP2 on 8 GPUs: 4 instances, each capacity 2 * 0.97 req/s (lower end of the search)
    est = estimate(cfg, cells, window(0, 4.0), p.costs)
    assert est.utilisation == pytest.approx(4.0 / 4 / cells["M-M"].capacity_rps)
    assert est.feasible
    too_much = estimate(cfg, cells, window(0, 40.0), p.costs)
    assert not too_much.feasible and "over_capacity" in too_much.notes


def test_schedule_lowers_the_clock_at_low_load_and_beats_static_max():
    p, _ = planner(grid(tps=(8,)))
    # one TP8 instance: capacity 0.97 x 8 x clock/1980 req/s (3.9 at 1000 MHz, 7.8 at 1980)
    wins = [window(0, 0.3), window(1, 0.3), window(2, 5.0), window(3, 0.3)]
    sched = p.schedule(wins)
    assert [s.estimate.config.clock_mhz for s in sched.steps] == [1000, 1000, 1980, 1000]
    assert [s.change for s in sched.steps] == ["", "", "clock", "clock"]
    assert all(s.estimate.feasible for s in sched.steps)
    maxperf = p.static(wins, p.max_performance(), "max")
    assert sched.energy_j < maxperf.energy_j
    s, lo, hi = saving(sched, maxperf)
    assert lo <= s <= hi
    # the oracle ignores reconfiguration costs: never worse than the schedule
    assert p.oracle(wins).energy_j <= sched.energy_j + 1e-6


def test_restart_cost_keeps_the_tp_when_it_outweighs_the_saving():
    table = grid(tps=(2, 8), clocks=(1980,))
    wins = [window(0, 6.0), window(1, 0.2), window(2, 6.0)]
    cheap, _ = planner(table, Costs(n_gpus=8, restart_s=0.0))
    costly, _ = planner(table, Costs(n_gpus=8, restart_s=1e4, miss_weight_j=1e6))
    tps_cheap = [s.estimate.config.tp for s in cheap.schedule(wins).steps]
    tps_costly = [s.estimate.config.tp for s in costly.schedule(wins).steps]
    assert len(set(tps_costly)) == 1
    assert cheap.schedule(wins).energy_j <= costly.schedule(wins).energy_j
    assert tps_cheap  # computed without error


def test_clock_only_schedule_keeps_the_instance():
    p, _ = planner(grid())
    sched = p.schedule([window(0, 0.3), window(1, 3.0)], fixed=(8, 64))
    assert {(s.estimate.config.tp, s.estimate.config.max_batch) for s in sched.steps} == {(8, 64)}
    assert sched.n_restarts == 0


def test_no_configuration_meets_the_slo_is_one_line():
    with pytest.raises(ConfigError, match="no configuration meets the SLO") as err:
        planner(grid(), slo=Slo(0.001, 0.001))
    assert "\n" not in str(err.value)


def test_missing_cells_are_named():
    p, _ = planner(grid(workloads=("S-S",)))
    w = mix_window(1.0, {"S-S": 1.0}, SHAPES)
    w.rates_rps["M-M"] = 1.0
    with pytest.raises(ConfigError, match="workload.s. M-M"):
        p.check_cells([w])


def test_out_of_grid_requests_are_counted():
    inp = np.array([100, 300, 500, 5000])
    out = np.array([50, 60, 128, 10])
    idx, exact, beyond = assign_workloads(inp, out, SHAPES)
    assert [SHAPES[i].id for i in idx] == ["S-S", "M-M", "M-M", "M-M"]
    assert exact.tolist() == [True, False, True, False]
    assert beyond.tolist() == [False, False, False, True]


def test_a_window_beyond_every_capacity_gets_the_highest_capacity_configuration():
    p, _ = planner(grid())
    wins = [window(0, 0.3), window(1, 100.0)]
    sched = p.schedule(wins)
    over = sched.steps[1].estimate
    assert "over_capacity" in over.notes
    best = min((o for o in p.options(wins[1])), key=lambda o: o.utilisation)
    assert over.utilisation == pytest.approx(best.utilisation)
    assert p.oracle(wins).steps[1].estimate.config == over.config
