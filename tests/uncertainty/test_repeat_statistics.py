"""The statistics table over repeats: medians, bootstrap CIs, CV, the spread flag, and
tables of single runs that must read exactly as before."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from greenllm.analysis.aggregate import aggregate, load_table, read_cells
from greenllm.analysis.flatten import INCOMPLETE_REPEATS_FLAG, rows_to_frame, summary_rows
from greenllm.analysis.statistics import STAT_METRICS, statistics_table
from greenllm.analysis.uncertainty import coefficient_of_variation, median_ci


def _table(*summaries):
    return rows_to_frame([row for s in summaries for row in summary_rows(s, "mem")])


def test_one_row_per_repeat_and_one_statistics_row_per_load_point(noisy):
    s = noisy.repeated_summary(8, 64, 1400, "M-M", n=5, sigma=0.1, seed=3)
    rows = _table(s)
    assert len(rows) == 5 * 2 and sorted(rows["repeat"].unique()) == [0, 1, 2, 3, 4]
    stats = statistics_table(rows)
    assert len(stats) == 2 and set(stats["n_repeats"]) == {5} and set(stats["n_searches"]) == {5}
    assert (stats["ci_method"] == "bootstrap").all() and "repeat" not in stats.columns
    medium = stats[stats["load_point"] == "medium"].iloc[0]
    values = rows.loc[rows["load_point"] == "medium", "ttft_p50_s"].to_numpy()
    assert medium["ttft_p50_s"] == pytest.approx(np.median(values))
    assert (medium["ttft_p50_s_ci_lo"], medium["ttft_p50_s_ci_hi"]) == pytest.approx(
        median_ci(values))
    assert medium["ttft_p50_s_cv"] == pytest.approx(coefficient_of_variation(values))
    # Max throughput: once per search (not once per load point x repeat).
    searches = [r["rps"] for r in s["max_throughput"]["repeats"]]
    assert medium["max_throughput_rps"] == pytest.approx(np.median(searches))
    assert medium["max_throughput_rps_ci_lo"] == pytest.approx(min(searches))  # n=5: [min, max]
    assert medium["max_throughput_rps_ci_hi"] == pytest.approx(max(searches))


def test_high_spread_flag_follows_the_configurable_bound(noisy):
    rows = _table(noisy.repeated_summary(8, 64, 1400, "M-M", n=5, sigma=0.01, seed=1),
                  noisy.repeated_summary(8, 64, 1000, "M-M", n=5, sigma=0.4, seed=2))
    stats = statistics_table(rows).set_index(["clock_label", "load_point"])
    assert not stats.loc[("f1400", "medium"), "high_spread"]
    noisy_row = stats.loc[("f1000", "medium")]
    assert noisy_row["high_spread"] and "ttft_p50_s" in noisy_row["high_spread_metrics"]
    named = noisy_row["high_spread_metrics"].split(";")
    assert all(noisy_row[f"{m}_cv"] > 0.15 for m in named)
    lenient = statistics_table(rows, cv_flag=5.0)
    assert not lenient["high_spread"].any()


def test_fewer_than_three_repeats_give_no_interval(noisy):
    stats = statistics_table(_table(noisy.repeated_summary(8, 64, 1400, "M-M", n=2, sigma=0.1,
                                                            seed=4)))
    assert (stats["ci_method"] == "none").all() and set(stats["n_repeats"]) == {2}
    assert stats["ttft_p50_s_ci_lo"].isna().all() and stats["ttft_p50_s_cv"].notna().all()


def test_single_runs_keep_their_values_and_carry_no_interval(synth):
    summaries = [synth.cell_summary(8, 64, c, "S-S") for c in (1000, 1980)]
    rows = _table(*summaries)
    assert (rows["repeat"] == 0).all()
    stats = statistics_table(rows)
    assert len(stats) == len(rows) and (stats["n_repeats"] == 1).all()
    for m in STAT_METRICS:
        pd.testing.assert_series_equal(stats[m], rows[m], check_names=False)
        assert stats[f"{m}_ci_lo"].isna().all() and stats[f"{m}_cv"].isna().all()
    assert not stats["high_spread"].any()


def test_one_search_shared_by_all_repeats_counts_once(noisy):
    s = noisy.repeated_summary(8, 64, 1400, "M-M", n=5, sigma=0.1, seed=5, search_repeats=False)
    stats = statistics_table(_table(s))
    assert set(stats["n_repeats"]) == {5} and set(stats["n_searches"]) == {1}
    assert stats["max_throughput_rps_ci_lo"].isna().all()  # one search: no CI, only its bracket
    assert stats["max_throughput_upper_rps"].notna().all()


def test_partial_cells_are_usable_and_flagged(noisy):
    s = noisy.repeated_summary(8, 64, 1400, "M-M", n=2, sigma=0.1, seed=6)
    s["status"], s["repeats"] = "partial", 5
    rows = _table(s)
    assert (rows["status"] == "ok").all() and (rows["repeats_planned"] == 5).all()
    assert rows["flags"].str.contains(INCOMPLETE_REPEATS_FLAG).all()


def test_aggregate_writes_the_statistics_table_and_reads_it_back(tmp_path, noisy, synth):
    for clock, sigma in ((1400, 0.02), (1000, 0.5)):
        synth.write_summary(tmp_path / "cells",
                            noisy.repeated_summary(8, 64, clock, "M-M", n=5, sigma=sigma,
                                                   seed=clock))
    out = tmp_path / "tables" / "cells.parquet"
    agg = aggregate([tmp_path / "cells"], out)
    stats_path = out.with_name("cells.summary.parquet")
    assert stats_path.exists() and stats_path.with_suffix(".csv").exists()
    assert len(agg.table) == 2 * 2 * 5 and len(agg.statistics) == 2 * 2
    for path in (stats_path, stats_path.with_suffix(".csv")):
        back = load_table(path)
        assert len(back) == 4 and back["n_repeats"].dtype == "int64"
        assert back["high_spread"].dtype == bool and back["high_spread"].sum() == 2
        np.testing.assert_allclose(back["ttft_p50_s_ci_hi"], agg.statistics["ttft_p50_s_ci_hi"])
    sanity = out.with_name("cells.sanity.md").read_text()
    assert "## Spread over repeats" in sanity and "5 × 4" in sanity
    assert "f1000" in sanity.split("## Spread over repeats")[1]
    assert read_cells([tmp_path / "cells"]).table["repeat"].max() == 4


def test_statistics_are_reproducible(noisy):
    rows = _table(noisy.repeated_summary(8, 64, 1400, "M-M", n=6, sigma=0.1, seed=7))
    a, b = statistics_table(rows), statistics_table(rows)
    pd.testing.assert_frame_equal(a, b)
    assert not math.isnan(a["ttft_p50_s_ci_lo"].iloc[0])
