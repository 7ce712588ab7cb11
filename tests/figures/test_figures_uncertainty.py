"""Figures draw medians over repeats with their 95 % bootstrap CI as error bars, and say
on their face how many repeats the points have."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from greenllm.analysis.aggregate import read_cells
from greenllm.analysis.statistics import statistics_table
from greenllm.figures.registry import get_figure, render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uncertainty"))
import noisy_cells  # noqa: E402

N = 5


@pytest.fixture(scope="module")
def repeated_table(tmp_path_factory, synth_module):
    root = tmp_path_factory.mktemp("repeated")
    for tp in (2, 4, 8):
        for clock in synth_module.PAPER_CLOCKS_MHZ:
            synth_module.write_summary(root, noisy_cells.repeated_summary(
                tp, 64, clock, "M-M", n=N, sigma=0.05, seed=tp * 10_000 + clock))
    return read_cells([root]).table


@pytest.fixture(scope="module")
def synth_module():
    import synth_cells

    return synth_cells


def _bars(result) -> list[ErrorbarContainer]:
    return [c for c in result.figure.axes[0].containers if isinstance(c, ErrorbarContainer)]


@pytest.mark.parametrize("fid", ["fig06", "fig08", "fig09"])
def test_points_are_medians_with_ci_bars(repeated_table, studies, fid):
    result = render(get_figure(fid), repeated_table, studies["tp"])
    data = result.data
    assert len(data) == 3 * 7 and (data["n_repeats"] == N).all()
    assert (data["ci_lo"] <= data["value"] + 1e-12).all()
    assert (data["value"] <= data["ci_hi"] + 1e-12).all()
    assert (data["ci_hi"] > data["ci_lo"]).all()
    assert len(_bars(result)) == 3  # one set of bars per TP line
    note = next(n for n in result.notes if n.startswith("Points:"))
    assert "median of n=5 repeats" in note and "95 % bootstrap CI" in note
    assert any("n=5 repeats" in t for t in result.texts())


def test_bars_are_in_the_plotted_units(repeated_table, studies):
    stats = statistics_table(repeated_table).set_index(["tp", "clock_mhz", "load_point"])
    ttft = render(get_figure("fig06"), repeated_table, studies["tp"]).data
    row = ttft[(ttft["tp"] == 4) & (ttft["clock_mhz"] == 1200)].iloc[0]
    cell = stats.loc[(4, 1200.0, "medium")]
    assert row["value"] == pytest.approx(1000 * cell["ttft_p50_s"])  # the median, in ms
    assert (row["ci_lo"], row["ci_hi"]) == pytest.approx(
        (1000 * cell["ttft_p50_s_ci_lo"], 1000 * cell["ttft_p50_s_ci_hi"]))
    # Normalised power: the bar scales with the point (the reference's own spread is not
    # propagated, as the figure's note on normalisation and docs/figures.md say).
    power = render(get_figure("fig09"), repeated_table, studies["tp"]).data
    row = power[(power["tp"] == 2) & (power["clock_mhz"] == 800)].iloc[0]
    cell = stats.loc[(2, 800.0, "medium")]
    assert row["ci_lo"] / row["value"] == pytest.approx(cell["power_max_w_ci_lo"]
                                                        / cell["power_max_w"])


def test_single_runs_draw_no_bars_and_say_so(grid_table, studies):
    result = render(get_figure("fig08"), grid_table, studies["tp"])
    assert not _bars(result) and result.data["ci_lo"].isna().all()
    assert any(n.startswith("One run per point (n=1)") for n in result.notes)


def test_points_whose_repeats_hit_the_cap_are_ringed(repeated_table, studies):
    from matplotlib.collections import PathCollection

    plain = render(get_figure("fig06"), repeated_table, studies["tp"])
    assert not any("ringed" in n for n in plain.notes)
    table = repeated_table.copy()
    capped = (table["tp"] == 4) & (table["clock_mhz"] == 1200)
    table["repeat_stop"] = "targets_met"
    table.loc[capped, "repeat_stop"] = "cap"
    result = render(get_figure("fig06"), table, studies["tp"])
    assert "1 point(s) ringed: repeats hit the cap before the CI target." in result.notes
    rings = [c for c in result.figure.axes[0].collections if isinstance(c, PathCollection)
             and len(c.get_offsets()) == 1 and (c.get_facecolor().size == 0
                                                or c.get_facecolor()[0][3] == 0)]
    assert rings and rings[-1].get_offsets()[0][0] == 1200


def test_points_from_three_or_four_repeats_say_their_bars_are_widened(repeated_table, studies):
    plain = render(get_figure("fig06"), repeated_table, studies["tp"])
    assert not any("Student t" in n for n in plain.notes)  # n = 5 everywhere
    # an adaptive run stopped two points early: TP4 at 1200 MHz after 3, TP8 at 800 after 4
    table = repeated_table
    early = (((table["tp"] == 4) & (table["clock_mhz"] == 1200) & (table["repeat"] >= 3))
             | ((table["tp"] == 8) & (table["clock_mhz"] == 800) & (table["repeat"] >= 4)))
    result = render(get_figure("fig06"), table[~early], studies["tp"])
    assert sorted(result.data["n_repeats"].unique()) == [3, 4, 5]
    note = next(n for n in result.notes if n.startswith("Points:"))
    assert "median of n=3–5 repeats" in note
    assert ("2 point(s) from 3–4 repeats, whose bars are widened to a Student t interval (a "
            "bootstrap of so few holds the median only about 75 % / 88 % of the time)") in note


def test_points_from_more_than_five_repeats_say_their_bars_hold_a_t_interval(repeated_table,
                                                                             studies):
    # six repeats of every point: the fifth repeat measured again under a new index
    table = repeated_table
    extra = table[table["repeat"] == table["repeat"].max()].assign(
        repeat=table["repeat"].max() + 1)
    result = render(get_figure("fig06"), pd.concat([table, extra], ignore_index=True),
                    studies["tp"])
    assert set(result.data["n_repeats"]) == {6}
    note = next(n for n in result.notes if n.startswith("Points:"))
    assert f"; {len(result.data)} point(s) from 6 repeats, whose bars also hold a Student t " \
        "interval" in note
