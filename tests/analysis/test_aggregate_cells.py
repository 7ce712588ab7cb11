"""Aggregation: cell summaries -> one tidy table, failed cells kept, bad files named."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from greenllm.analysis.aggregate import aggregate, load_table, read_cells
from greenllm.analysis.cells import find_cell_files
from greenllm.analysis.flatten import COLUMNS
from greenllm.errors import GreenllmError

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "cells" / "sample"


def test_one_row_per_cell_and_load_point_with_every_column(grid_dir, tmp_path, synth):
    agg = aggregate([grid_dir], tmp_path / "tables" / "cells.parquet")
    table = agg.table
    # 9 workloads + 2 TP + 4 batch instances' M-M, 7 clocks each, 2 load points per cell
    n_cells = (9 + 2 + 4) * len(synth.PAPER_CLOCKS_MHZ)
    assert len(agg.files) == n_cells
    assert len(table) == 2 * n_cells
    assert list(table.columns) == list(COLUMNS)
    assert not table.duplicated(["instance_id", "clock_label", "workload_id", "load_point"]).any()
    for name in ("cells.parquet", "cells.csv", "cells.sanity.md"):
        assert (tmp_path / "tables" / name).stat().st_size > 0


def test_flattened_values_match_the_summary(grid_table, synth):
    m = synth.SynthModel()
    row = grid_table[(grid_table["instance_id"] == "llama2-70b_tp4_b64")
                     & (grid_table["clock_label"] == "f1200")
                     & (grid_table["load_point"] == "medium")].iloc[0]
    assert row["clock_mhz"] == 1200 and row["clock_mode"] == "pin"
    assert row["tp"] == 4 and row["max_batch"] == 64 and row["n_gpus"] == 4
    assert row["input_tokens"] == 500 and row["output_tokens"] == 128
    assert row["ttft_p50_s"] == pytest.approx(m.ttft_p50_s(4, 64, 1200, "M-M", "medium"))
    assert row["ttft_p90_s"] == pytest.approx(1.3 * row["ttft_p50_s"])
    assert row["tbt_p99_s"] == pytest.approx(1.8 * m.tbt_p50_s(4, 1200, "M-M"))
    assert row["max_throughput_rps"] == pytest.approx(m.max_throughput_rps(4, 64, 1200, "M-M"))
    assert row["energy_per_request_j"] == pytest.approx(
        m.energy_per_request_j(4, 64, 1200, "M-M", "medium"))
    assert row["power_max_w"] == pytest.approx(m.power_max_w(4, 1200))
    assert row["slo_scale"] == 5.0 and row["gpu_name"] == "NVIDIA H100 80GB HBM3"
    assert row["config_hash"] == "cafe0001" and row["status"] == "ok"


def test_parquet_and_csv_read_back_alike(grid_dir, tmp_path):
    out = tmp_path / "cells.parquet"
    written = aggregate([grid_dir], out).table
    for path in (out, out.with_suffix(".csv")):
        back = load_table(path)
        assert back.shape == written.shape
        assert back["simulated"].dtype == bool
        assert (back["flags"] == "").all()
        pd.testing.assert_series_equal(back["ttft_p50_s"], written["ttft_p50_s"])


def test_failed_cell_keeps_a_row_with_missing_metrics(tmp_path, synth):
    synth.write_grid(tmp_path, instances=((4, 64),), clocks=(800, 1980),
                     failed={(4, 64, 800, "M-M"): "engine returned HTTP 500"})
    agg = aggregate([tmp_path], tmp_path / "t" / "cells.parquet")
    failed = agg.table[agg.table["status"] == "failed"]
    assert len(failed) == 1 and len(agg.table) == 3
    row = failed.iloc[0]
    assert row["error"] == "engine returned HTTP 500"
    assert pd.isna(row["load_point"]) and math.isnan(row["ttft_p50_s"])
    assert math.isnan(row["max_throughput_rps"]) and row["clock_mhz"] == 800
    sanity = (tmp_path / "t" / "cells.sanity.md").read_text()
    assert "failed: 1" in sanity and "engine returned HTTP 500" in sanity


def _write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@pytest.mark.parametrize("mutate, expect", [
    (lambda s: "{not json", "not valid JSON"),
    (lambda s: {**s, "schema": "greenllm.cell/2"}, "expected 'greenllm.cell/1'"),
    (lambda s: {**s, "instance": {k: v for k, v in s["instance"].items() if k != "tp"}},
     "at instance"),
    (lambda s: {**s, "clock": {**s["clock"], "mode": "turbo"}}, "at clock/mode"),
    (lambda s: {**s, "load_points": [{"rate_rps": 1.0}]}, "at load_points/0"),
    (lambda s: {**s, "load_points": [{**s["load_points"][0], "ttft_s": {"p50": "fast"}}]},
     "load_points/0/ttft_s/p50"),
])
def test_malformed_summary_is_a_one_line_error_naming_the_file(tmp_path, synth, mutate, expect):
    good = synth.cell_summary(8, 64, 1400, "M-M")
    bad = _write(tmp_path / "raw" / "x" / "cells" / "f1400" / "M-M" / "summary.json", mutate(good))
    with pytest.raises(GreenllmError) as exc:
        read_cells([tmp_path])
    msg = str(exc.value)
    assert str(bad) in msg and expect in msg and "\n" not in msg


def test_directory_scan_takes_cell_copies_and_skips_other_json(tmp_path, synth):
    s = synth.cell_summary(8, 64, 1400, "M-M")
    synth.write_summary(tmp_path, s, layout="copies")  # results/cells/<id>/<clock>/<wl>.json
    _write(tmp_path / "raw" / "i" / "manifest.json", {"instance_id": "i", "cells": []})
    _write(tmp_path / "raw" / "i" / "instance.json", {"config": {"a": 1}})
    _write(tmp_path / "raw" / "i" / "baseline" / "M-M.json", {"ttft_s": 0.1})
    files = find_cell_files([tmp_path])
    assert [f.name for f in files] == ["M-M.json"]


def test_identical_copies_count_once_and_conflicts_keep_the_later(tmp_path, synth):
    old = synth.cell_summary(8, 64, 1400, "M-M", finished_at="2026-11-25T10:00:00Z")
    new = synth.cell_summary(8, 64, 1400, "M-M", finished_at="2026-11-26T10:00:00Z")
    new["max_throughput"]["rps"] = 99.0
    synth.write_summary(tmp_path, old, layout="raw")
    synth.write_summary(tmp_path, old, layout="copies")
    _write(tmp_path / "rerun" / "summary.json", new)
    agg = aggregate([tmp_path], tmp_path / "t" / "cells.parquet")
    assert len(agg.table) == 2  # one cell, two load points
    assert (agg.table["max_throughput_rps"] == 99.0).all()
    assert sum(d.identical for d in agg.duplicates) == 1
    assert "rerun/summary.json" in (tmp_path / "t" / "cells.sanity.md").read_text()


def test_observe_mode_clock_is_the_rounded_achieved_mean(tmp_path, synth):
    s = synth.cell_summary(8, 64, 1755, "S-S", mode="observe")
    s["clock"]["achieved_mhz"]["mean"] = 1754.6
    synth.write_summary(tmp_path, s)
    row = read_cells([tmp_path]).table.iloc[0]
    assert row["clock_label"] == "native" and row["clock_mode"] == "observe"
    assert math.isnan(row["clock_requested_mhz"]) and row["clock_mhz"] == 1755


def test_flags_and_throttling_are_joined_and_reported(tmp_path, synth):
    s = synth.cell_summary(8, 64, 1980, "L-L")
    lp = s["load_points"][1]
    lp["flags"] = ["short_window", "energy_disagreement"]
    lp["throttle_reasons"] = ["sw_power_cap", "hw_slowdown"]
    lp["sm_clock_mhz"]["mean"] = 1500.0
    synth.write_summary(tmp_path, s)
    agg = aggregate([tmp_path], tmp_path / "t" / "cells.parquet")
    row = agg.table[agg.table["load_point"] == lp["name"]].iloc[0]
    assert row["flags"] == "short_window;energy_disagreement"
    assert row["throttle_reasons"] == "sw_power_cap;hw_slowdown"
    sanity = (tmp_path / "t" / "cells.sanity.md").read_text()
    assert "flags: short_window, energy_disagreement" in sanity
    assert "SM clock averaged 1500 MHz, below the pinned 1980 MHz" in sanity
    assert "sw_power_cap, hw_slowdown" in sanity


def test_bad_out_path_fails_before_reading(tmp_path):
    with pytest.raises(GreenllmError, match=r"\.parquet"):
        aggregate([tmp_path / "does-not-exist"], tmp_path / "cells.csv")


def test_no_cells_found_is_a_user_error(tmp_path):
    with pytest.raises(GreenllmError, match="no cell summaries"):
        read_cells([tmp_path])


def test_committed_samples_are_current_and_aggregate(tmp_path, synth):
    fresh = synth.write_samples(tmp_path / "fresh")
    for path in fresh:
        assert (SAMPLES / path.name).read_text() == path.read_text(), (
            f"{path.name} drifted: rerun python tests/fixtures/cells/synth_cells.py")
    table = read_cells([SAMPLES]).table
    assert sorted(table["status"].unique()) == ["failed", "ok"]
    assert table["simulated"].any() and (table["clock_mode"] == "observe").any()
