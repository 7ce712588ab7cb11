"""The SIMULATED planner table from the simulator in virtual time: the planner reads it."""

from __future__ import annotations

from greenllm.load.workloads import parse_workload
from greenllm.recommend.cells import Slo, build_models
from greenllm.recommend.sim_grid import GridSpec, build_grid, grid_workload


def test_grid_feeds_the_planner_and_a_higher_clock_serves_more():
    spec = GridSpec(model="llama-1b", tps=(1,), max_batches=(64,), clocks_mhz=(1000, 1980),
                    workloads=(parse_workload("M-M"),), repeats=3)
    table = build_grid(spec)
    assert set(table["engine"]) == {"virtual"} and table["simulated"].all()
    models, _ = build_models(table, Slo())
    caps = {m.config.clock_mhz: m.capacity_rps for m in models}
    assert set(caps) == {1000, 1980}
    assert caps[1980] > caps[1000] > 0
    assert all(m.has_ci for m in models)  # 3 repeats: intervals exist


def test_custom_bucket_spec():
    w = grid_workload("XL-M:2048:128")
    assert (w.id, w.input_tokens, w.output_tokens) == ("XL-M", 2048, 128)
    assert grid_workload("M-M").input_tokens == 500
