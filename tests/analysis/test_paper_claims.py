"""The claims table on synthetic grids whose answers are known from the generator."""

from __future__ import annotations

import pandas as pd
import pytest

from greenllm.analysis.aggregate import read_cells
from greenllm.analysis.claim_helpers import (
    AMBIGUOUS,
    CONSISTENT,
    NOT_CONSISTENT,
    NOT_MEASURABLE,
)
from greenllm.analysis.claims import ALL_CLAIMS, CLAIM_COLUMNS, compute_claims, write_claims
from greenllm.analysis.paper_claim_list import CLAIMS
from greenllm.analysis.studies import parse_studies


@pytest.fixture(scope="module")
def claims(grid_table, studies) -> pd.DataFrame:
    return compute_claims(grid_table, studies).set_index("claim_id")


def test_one_row_per_claim_with_every_column(claims):
    # the grid swept SM clocks alone (as the paper): the knob question was not asked, so
    # the table holds the paper's claims and no row that could not be measured
    assert list(claims.index) == [c.claim_id for c in CLAIMS]
    assert "knob_sm_clock_vs_power_cap" in [c.claim_id for c in ALL_CLAIMS]
    assert list(claims.reset_index().columns) == CLAIM_COLUMNS
    assert (claims.loc[[c.claim_id for c in CLAIMS], "data"] == "measured").all()


def test_single_runs_give_bracket_intervals_or_unknown(claims):
    # One repeat per cell: max-throughput effects get the search brackets' range (the
    # synthetic brackets are [rps, 1.05 rps]); energy and latency effects get none.
    half = claims.loc["ss_half_clock_throughput"]
    assert "search brackets" in half["uncertainty"]
    lo_drop = 100 * (1 - 0.80 * 1.05 / 1.0)  # half at its upper bound, top at its lower
    hi_drop = 100 * (1 - 0.80 / 1.05)
    assert (half["measured_ci_lo"], half["measured_ci_hi"]) == pytest.approx((lo_drop, hi_drop))
    assert half["effect_exceeds_uncertainty"] == "yes" and half["verdict"] == CONSISTENT
    energy = claims.loc["tp2_energy_vs_tp8"]
    assert energy["effect_exceeds_uncertainty"] == "unknown"
    assert "only 1 repeat" in energy["uncertainty"] and energy["verdict"] == CONSISTENT


def test_known_answers_on_the_default_grid(claims, synth):
    m = synth.SynthModel()
    half = claims.loc["ss_half_clock_throughput"]
    assert half["measured"] == pytest.approx(100 * (1 - m.g(1000) / m.g(1980)))  # 20 %
    assert half["verdict"] == CONSISTENT and half["clocks_used"] == "1000 vs 1980 MHz"
    assert "used 1000 MHz for half the highest clock (990 MHz)" in half["notes"]
    assert "S-S" in half["rows_used"] and "(2 rows)" in half["rows_used"]

    power = claims.loc["power_20pct_no_cost"]
    # 1600 MHz is the lowest clock with flat latency and ≤5 % throughput loss.
    saving = 100 * (1 - m.power_max_w(8, 1600) / m.power_max_w(8, 1980))
    assert power["measured"] == pytest.approx(saving)
    assert power["measured_value"].startswith("9/9") and power["verdict"] == CONSISTENT

    assert claims.loc["tp2_to_tp4_throughput", "measured"] == pytest.approx(75)
    assert claims.loc["tp4_to_tp8_throughput", "measured"] == pytest.approx(40)
    energy = claims.loc["tp2_energy_vs_tp8"]
    e = [m.energy_per_request_j(tp, 64, 1980, "M-M", "medium") for tp in (2, 8)]
    assert energy["measured"] == pytest.approx(100 * (1 - e[0] / e[1]))
    assert "59.2 % below TP8's" in energy["measured_value"] and energy["verdict"] == CONSISTENT

    assert claims.loc["low_load_smaller_batch_energy", "measured"] == pytest.approx(15)
    assert claims.loc["ttft_sensitivity_grows_with_prompt", "verdict"] == CONSISTENT
    assert claims.loc["tbt_response_same_for_all_lengths", "measured"] == pytest.approx(0, abs=1e-9)
    clock = claims.loc["batch_lower_clock_same_throughput"]
    assert clock["verdict"] == CONSISTENT and "interpretation" in clock["notes"]
    assert clock["clocks_used"] == "1600 vs 1980 MHz"


def test_garbled_batch_claim_is_ambiguous_but_measured(claims):
    row = claims.loc["batch64_vs_batch4_throughput"]
    assert row["verdict"] == AMBIGUOUS
    assert row["measured"] == pytest.approx(100.0)  # batch_scale 1.0 / 0.5


def test_a_different_world_gives_not_consistent(tmp_path, studies, synth):
    # Halving the clock halves throughput; TBT reacts differently for long outputs.
    model = synth.SynthModel()
    model.throughput_factor = {**model.throughput_factor, 1000: 0.5}
    synth.write_grid(tmp_path, instances=((8, 64),), synth=model, clocks=(800, 1000, 1980))
    long_out = synth.cell_summary(8, 64, 800, "S-L", synth=model)
    long_out["load_points"][1]["tbt_s"]["p50"] *= 2
    synth.write_summary(tmp_path, long_out)
    claims = compute_claims(read_cells([tmp_path]).table, studies).set_index("claim_id")
    assert claims.loc["ss_half_clock_throughput", "measured"] == pytest.approx(50)
    assert claims.loc["ss_half_clock_throughput", "verdict"] == NOT_CONSISTENT
    assert claims.loc["tbt_response_same_for_all_lengths", "verdict"] == NOT_CONSISTENT


def test_nearest_clock_is_used_and_said(tmp_path, synth):
    clocks = (800, 1100, 1980)
    synth.write_grid(tmp_path, instances=((8, 64),), clocks=clocks)
    studies = parse_studies({**synth.STUDIES, "clocks": list(clocks)})
    claims = compute_claims(read_cells([tmp_path]).table, studies).set_index("claim_id")
    half = claims.loc["ss_half_clock_throughput"]
    m = synth.SynthModel()
    assert half["measured"] == pytest.approx(100 * (1 - m.g(1100) / m.g(1980)))
    assert "used 1100 MHz for half the highest clock (990 MHz)" in half["notes"]


def test_missing_studies_and_cells_are_not_measurable(tmp_path, studies, synth):
    synth.write_grid(tmp_path, instances=((8, 64),), clocks=(1980,))  # one clock only
    claims = compute_claims(read_cells([tmp_path]).table, studies).set_index("claim_id")
    for cid in ("ss_half_clock_throughput", "ttft_sensitivity_grows_with_prompt",
                "tp2_to_tp4_throughput", "low_load_smaller_batch_energy"):
        assert claims.loc[cid, "verdict"] == NOT_MEASURABLE, cid
        assert claims.loc[cid, "notes"], cid
    assert "no usable max_throughput_rps for TP2, TP4" in claims.loc[
        "tp2_to_tp4_throughput", "notes"]
    only_tp = {"tp": studies["tp"]}
    by_study = compute_claims(read_cells([tmp_path]).table, only_tp).set_index("claim_id")
    assert "'workload' study is not configured" in by_study.loc["ss_half_clock_throughput", "notes"]


def test_simulated_cells_are_marked_in_table_and_markdown(tmp_path, studies, synth):
    synth.write_grid(tmp_path, instances=((2, 64), (4, 64), (8, 64)), simulated=True)
    claims = compute_claims(read_cells([tmp_path]).table, studies)
    measured = claims[claims["verdict"] != NOT_MEASURABLE]
    assert (measured["data"] == "SIMULATED").all()
    md, csv = write_claims(claims, tmp_path / "reports" / "claims.md")
    assert "SIMULATED — not a measurement" in md.read_text()
    back = pd.read_csv(csv, keep_default_na=False)
    assert list(back.columns) == CLAIM_COLUMNS and len(back) == len(CLAIMS)
