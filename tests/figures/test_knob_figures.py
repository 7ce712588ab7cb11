"""The knob comparison (SM-clock locking vs power capping), its figure and claims row, and
the paper's figures with the power limit on x, on synthetic cells with known answers.

Power-limit cells are built from the synthetic model at the clock the cap would hold
(``EFFECTIVE``), with their energy scaled by a per-workload factor, so which knob wins is
known: S-S and M-M favour clock locking, L-L power capping, M-S is a tie.
"""

from __future__ import annotations

import pytest
import synth_cells

from greenllm.analysis.aggregate import read_cells
from greenllm.analysis.claim_helpers import CONSISTENT, NOT_CONSISTENT
from greenllm.analysis.claims import compute_claims
from greenllm.analysis.knob_claims import sm_clock_vs_power_cap
from greenllm.analysis.knob_comparison import compare_knobs
from greenllm.analysis.studies import parse_studies
from greenllm.figures.registry import get_figure, render

WORKLOADS = ["S-S", "M-S", "M-M", "L-L"]
CLOCKS = (1000, 1400, 1980)
EFFECTIVE = {300: 1000, 500: 1400, 700: 1980}  # power limit -> clock it holds (synthetic)
POWER_ENERGY = {"S-S": 1.3, "M-S": 1.0, "M-M": 1.2, "L-L": 0.7}  # x the SM clock's energy


def power_cell(synth, watts: int, wl: str) -> dict:
    s = synth.cell_summary(8, 64, EFFECTIVE[watts], wl)
    s["clock"] = {"label": f"p{watts}", "mode": "pin", "requested_mhz": None, "applied_mhz": None,
                  "achieved_mhz": s["clock"]["achieved_mhz"], "axis": "power_limit",
                  "requested_power_limit_w": watts, "power_limit_w": watts,
                  "requested_memory_clock_mhz": None, "memory_clock_mhz": 2619}
    for lp in s["load_points"]:
        for k in ("energy_j", "energy_per_request_j", "energy_per_output_token_j"):
            lp["energy"][k] *= POWER_ENERGY[wl]
    return s


@pytest.fixture(scope="module")
def knob_table(tmp_path_factory):
    synth = synth_cells
    root = tmp_path_factory.mktemp("knobs")
    for wl in WORKLOADS:
        for clock in CLOCKS:
            synth.write_summary(root, synth.cell_summary(8, 64, clock, wl))
        for watts in EFFECTIVE:
            synth.write_summary(root, power_cell(synth, watts, wl))
    return read_cells([root]).table


@pytest.fixture(scope="module")
def study():
    raw = {**synth_studies(), "workload": {"tp": 8, "max_batch": 64, "workloads": WORKLOADS,
                                           "load": "medium"}}
    return parse_studies(raw)


def synth_studies() -> dict:
    return {"model": "llama2-70b", "clocks": list(CLOCKS)}


def test_each_knob_s_best_setting_at_equal_throughput(knob_table, synth):
    cmp = compare_knobs(knob_table).set_index(["workload_id", "knob"])
    m = synth.SynthModel()
    # the target: 95 % of the best max throughput (1980 MHz), so only f1980 / p700 qualify
    # (1400 MHz keeps 91 %): each knob's answer is its full-speed setting
    for wl in WORKLOADS:
        target = 0.95 * m.max_throughput_rps(8, 64, 1980, wl)
        assert cmp.loc[(wl, "sm_clock"), "target_rps"] == pytest.approx(target)
        assert cmp.loc[(wl, "sm_clock"), "setting_label"] == "f1980"
        assert cmp.loc[(wl, "power_limit"), "setting_label"] == "p700"
        e_sm = m.energy_per_request_j(8, 64, 1980, wl, "medium") / synth._tokens(wl)[1]
        assert cmp.loc[(wl, "sm_clock"), "energy_per_output_token_j"] == pytest.approx(e_sm)
        assert cmp.loc[(wl, "power_limit"), "energy_per_output_token_j"] == pytest.approx(
            e_sm * POWER_ENERGY[wl])
    winners = cmp.reset_index().drop_duplicates("workload_id").set_index("workload_id")["winner"]
    assert winners.to_dict() == {"L-L": "power_limit", "M-M": "sm_clock", "M-S": "tie",
                                 "S-S": "sm_clock"}


def test_a_lower_floor_lets_slower_cheaper_settings_win(knob_table):
    cmp = compare_knobs(knob_table, floor=0.85).set_index(["workload_id", "knob"])
    # at 85 % the 1400 MHz / 500 W cells qualify (91 %) and spend less per token
    assert cmp.loc[("S-S", "sm_clock"), "setting_label"] == "f1400"
    assert cmp.loc[("S-S", "power_limit"), "setting_label"] == "p500"


def test_claims_row_states_where_each_knob_wins(knob_table, study):
    m = sm_clock_vs_power_cap(knob_table, study)
    assert m.value == 3 and m.verdict == CONSISTENT  # S-S, M-M and the M-S tie of 4
    assert "SM-clock locking: M-M, S-S" in m.text and "power capping: L-L" in m.text
    assert "tie: M-S" in m.text
    row = compute_claims(knob_table, study).set_index("claim_id").loc["knob_sm_clock_vs_power_cap"]
    assert row["verdict"] == CONSISTENT and "power capping: L-L" in row["measured_value"]


def test_claims_row_not_consistent_when_power_capping_wins_most(knob_table, study):
    only = knob_table[knob_table["workload_id"].isin(["L-L"])]
    assert sm_clock_vs_power_cap(only, study).verdict == NOT_CONSISTENT


def test_knob_figure_draws_both_knobs_per_workload(knob_table, study):
    out = render(get_figure("knobs"), knob_table, study["workload"])
    assert not out.placeholder
    assert set(out.data["workload_id"]) == set(WORKLOADS) and len(out.data) == 2 * len(WORKLOADS)
    assert any("Winner per workload" in n and "L-L: power capping" in n for n in out.notes)


def test_knob_figure_without_power_cells_is_a_placeholder_saying_why(grid_table, studies):
    out = render(get_figure("knobs"), grid_table, studies["workload"])
    assert out.placeholder and "power limit" in out.placeholder_reason


def test_paper_figure_with_power_limit_on_x(knob_table, study):
    out = render(get_figure("fig05"), knob_table, study["workload"], x="power_limit")
    assert not out.placeholder
    assert sorted(out.data["clock_mhz"].unique()) == [300.0, 500.0, 700.0]
    assert set(out.data["clock_label"]) == {"p300", "p500", "p700"}
    ax = out.figure.axes[0]
    assert ax.get_xlabel() == "GPU power limit (W)" and "vs GPU power limit" in ax.get_title(loc="left")
    sm = render(get_figure("fig05"), knob_table, study["workload"])  # the default stays
    assert set(sm.data["clock_label"]) == {"f1000", "f1400", "f1980"}
