"""Studies from config dicts, and the rows (and missing cells) a study selects."""

from __future__ import annotations

import pytest

from greenllm.analysis.aggregate import read_cells
from greenllm.analysis.select import select_rows
from greenllm.analysis.studies import parse_studies, read_json_arg, study_for
from greenllm.errors import ConfigError


def test_parse_all_studies_with_shared_clocks_and_model(synth):
    st = parse_studies(synth.STUDIES)
    assert st["workload"].tps == (8,) and len(st["workload"].workloads) == 9
    assert st["tp"].tps == (2, 4, 8) and st["tp"].workloads == ("M-M",)
    assert st["batch"].max_batches == (4, 8, 16, 32, 64) and st["batch"].low_load == "low"
    assert st["tp"].clocks_mhz == synth.PAPER_CLOCKS_MHZ and st["tp"].model == "llama2-70b"
    assert st["batch"].max_clock_mhz == 1980


def test_study_for_takes_one_study_or_all_of_them(synth):
    one = {**synth.STUDIES["tp"], "clocks": ["f800", "f1980", "native"], "model": "m"}
    assert study_for("tp", one).clocks_mhz == (800, 1980)
    assert study_for("tp", synth.STUDIES).tps == (2, 4, 8)


@pytest.mark.parametrize("raw, match", [
    ({"tps": [2, 4], "max_batch": 64, "load": "medium"}, "lacks workload"),
    ({"tps": "2,4", "max_batch": 64, "workload": "M-M", "load": "medium"}, "must be a list"),
    ({"tps": [2.5], "max_batch": 64, "workload": "M-M", "load": "medium"}, "integer"),
])
def test_bad_study_is_a_one_line_config_error(raw, match):
    with pytest.raises(ConfigError, match=match):
        study_for("tp", raw)


def test_bad_json_argument_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_json_arg("{tps: [2]}", "--study")


def test_tp_study_selects_its_instances_clocks_and_load(grid_table, studies, synth):
    sel = select_rows(grid_table, studies["tp"])
    assert set(sel.rows["tp"]) == {2, 4, 8} and set(sel.rows["max_batch"]) == {64}
    assert set(sel.rows["load_point"]) == {"medium"}
    assert len(sel.rows) == 3 * len(synth.PAPER_CLOCKS_MHZ)
    assert sel.missing("ttft_p50_s") == []
    per_cell = select_rows(grid_table, studies["tp"], per_cell=True)
    assert len(per_cell.rows) == len(sel.rows)


def test_missing_and_failed_cells_are_named(tmp_path, studies, synth):
    synth.write_grid(tmp_path, instances=((2, 64), (4, 64)),
                     skip={(4, 64, 1000, "M-M")},
                     failed={(2, 64, 800, "M-M"): "server died"})
    table = read_cells([tmp_path]).table
    missing = select_rows(table, studies["tp"]).missing("ttft_p50_s")
    assert "TP4 · 1000 MHz (no cell)" in missing
    assert "TP2 · 800 MHz (failed: server died)" in missing
    assert sum("TP8" in m for m in missing) == len(synth.PAPER_CLOCKS_MHZ)
    assert len(missing) == 2 + len(synth.PAPER_CLOCKS_MHZ)


def test_two_models_need_the_study_to_name_one(tmp_path, studies, synth):
    synth.write_grid(tmp_path, instances=((2, 64),), clocks=(1980,))
    synth.write_grid(tmp_path, instances=((2, 64),), clocks=(1980,), model="llama2-7b")
    table = read_cells([tmp_path]).table
    unnamed = study_for("tp", {k: v for k, v in synth.STUDIES["tp"].items()})
    with pytest.raises(ConfigError, match="several models"):
        select_rows(table, unnamed)
    assert set(select_rows(table, studies["tp"]).rows["model"]) == {"llama2-70b"}
