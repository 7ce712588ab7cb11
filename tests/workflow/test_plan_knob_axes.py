"""The Snakemake grid with power-limit and memory-clock axes: the same cell labels as
``greenllm measure`` (greenllm.sweep_axes), passed to it as Hydra overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenllm import plan as gplan
from greenllm.errors import ConfigError
from greenllm.sweep_axes import KnobSetting, knob_settings

ROOT = Path(__file__).resolve().parents[2]


def plan_for(**config) -> gplan.Plan:
    return gplan.plan_from_config(config, ROOT, workdir=ROOT)


def test_each_axis_alone_by_default_and_today_s_cells_unchanged():
    p = plan_for(preset="smoke", clocks={"mode": "pin", "mhz": [990, 1980],
                                          "power_limit_w": [300, 450.5], "memory_mhz": [1593]})
    assert {c.clock for c in p.cells} == {"f990", "f1980", "p300", "p450.5", "m1593"}
    o = dict(x.split("=", 1) for x in gplan.measure_overrides(p, p.instances[0].id))
    assert o["clocks.power_limit_w"] == "[300,450.5]" and o["clocks.memory_mhz"] == "[1593]"
    only_sm = plan_for(preset="smoke", clocks={"mode": "pin", "mhz": [990]})
    assert {c.clock for c in only_sm.cells} == {"f990"}
    assert not any("power_limit" in x for x in gplan.measure_overrides(only_sm, only_sm.instances[0].id))


def test_cross_sweeps_every_combination():
    settings = knob_settings({"mode": "pin", "mhz": [990, 1980], "power_limit_w": [300],
                              "memory_mhz": [], "cross": True})
    assert [s.label for s in settings] == ["f990_p300", "f1980_p300"]
    assert settings[0] == KnobSetting(990, 300.0, None) and settings[0].axis == "sm_clock+power_limit"


def test_pin_mode_with_only_a_power_limit_sweep_is_valid_and_an_empty_one_is_not():
    p = plan_for(preset="smoke", clocks={"mode": "pin", "mhz": [], "power_limit_w": [350]})
    assert {c.clock for c in p.cells} == {"p350"}
    with pytest.raises(ConfigError, match="clocks.mhz.*pin mode needs at least one clock"):
        plan_for(preset="smoke", clocks={"mode": "pin", "mhz": []})
    with pytest.raises(ConfigError, match="clocks.power_limit_w"):
        plan_for(preset="smoke", clocks={"mode": "pin", "power_limit_w": [-1]})
