"""The energy-breakdown figure and table columns from cells that carry the phase split."""

from __future__ import annotations

import pytest
import synth_cells

from greenllm.analysis.aggregate import read_cells
from greenllm.analysis.studies import parse_studies
from greenllm.figures.registry import get_figure, render

WORKLOADS = ["S-S", "L-L"]


def with_phases(s: dict, *, host: bool) -> dict:
    s["clock"]["idle_power_w"] = 400.0  # 8 GPUs x 50 W
    for lp in s["load_points"]:
        e = lp["energy"]
        w, total = e["window_s"], e["energy_j"]
        # a tenth of the time idle, 30 % prefill pending, 60 % decode only; the energy at
        # idle power while idle, and the rest 1:2 between prefill and decode instants
        t = {"idle": 0.1 * w, "prefill": 0.3 * w, "decode": 0.6 * w}
        e_idle = 400.0 * t["idle"]
        rest = total - e_idle
        e["phases"] = {"method": "request-timeline", "status": "ok", "integral_j": total,
                       **{f"{k}_s": v for k, v in t.items()},
                       "idle_j": e_idle, "prefill_j": rest / 3, "decode_j": 2 * rest / 3}
        lp["host_energy"] = ({"status": "ok", "energy_j": 0.25 * total, "power_mean_w": 1.0,
                              "scope": "RAPL package-0+package-0/dram (CPU packages and DRAM)"}
                             if host else {"status": "not available", "reason": "no RAPL zone"})
    return s


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    root = tmp_path_factory.mktemp("breakdown")
    for wl in WORKLOADS:
        for clock in (1000, 1980):
            synth_cells.write_summary(root, with_phases(synth_cells.cell_summary(8, 64, clock, wl),
                                                        host=wl == "S-S"))
    return read_cells([root]).table


@pytest.fixture(scope="module")
def study():
    return parse_studies({"model": "llama2-70b", "clocks": [1000, 1980], "workload": {
        "tp": 8, "max_batch": 64, "workloads": WORKLOADS, "load": "medium"}})["workload"]


def test_columns_split_the_counter_energy_with_the_idle_floor(table):
    r = table[(table["workload_id"] == "S-S") & (table["load_point"] == "medium")].iloc[0]
    w = r["window_s"]
    assert r["energy_split_sum_j"] == pytest.approx(r["energy_j"])
    assert r["energy_idle_j"] == pytest.approx(400.0 * w)  # every second pays idle power
    rest = r["energy_j"] - 400.0 * 0.1 * w
    assert r["energy_prefill_j"] == pytest.approx(rest / 3 - 400.0 * 0.3 * w)
    assert r["energy_decode_j"] == pytest.approx(2 * rest / 3 - 400.0 * 0.6 * w)
    assert r["host_energy_status"] == "ok" and "DRAM" in r["host_energy_scope"]
    other = table[table["workload_id"] == "L-L"].iloc[0]
    assert other["host_energy_status"] == "not available" and other["host_energy_scope"] == "no RAPL zone"


def test_breakdown_figure_stacks_parts_per_token(table, study):
    out = render(get_figure("energy_breakdown"), table, study)
    assert not out.placeholder and len(out.data) == 4
    parts = out.data[["energy_idle_per_token_j", "energy_prefill_per_token_j",
                      "energy_decode_per_token_j"]].sum(axis=1)
    merged = out.data.merge(table[table["load_point"] == "medium"][
        ["workload_id", "clock_label", "energy_per_output_token_j"]])
    assert parts.to_numpy() == pytest.approx(merged["energy_per_output_token_j"].to_numpy())
    ss = out.data[out.data["workload_id"] == "S-S"]
    assert ss["host_per_token_j"].notna().all()
    assert out.data.loc[out.data["workload_id"] == "L-L", "host_per_token_j"].isna().all()


def test_cells_without_a_split_give_a_placeholder(grid_table, studies):
    out = render(get_figure("energy_breakdown"), grid_table, studies["workload"])
    assert out.placeholder and "energy split" in out.placeholder_reason
