"""Every figure renders (PDF + PNG) and plots the right rows; banners and placeholders.

Rendering is slow, so all 15 figures are drawn once per module from the synthetic grid;
data checks read the ``Rendered.data`` frames rather than pixels.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from greenllm.analysis.aggregate import read_cells
from greenllm.analysis.studies import study_for
from greenllm.errors import ConfigError
from greenllm.figures.registry import FIGURES, get_figure, render, render_to
from greenllm.figures.style import OBSERVED_CLOCK_NOTE, PARTLY_SIMULATED_BANNER, SIMULATED_BANNER

CONTRACT_STEMS = [
    "fig01_ttft_vs_clock_workloads", "fig02_tbt_vs_clock_workloads",
    "fig03_max_throughput_vs_clock_workloads", "fig04_max_power_vs_clock_workloads",
    "fig05_energy_vs_clock_workloads", "fig06_ttft_vs_clock_tp", "fig07_tbt_vs_clock_tp",
    "fig08_max_throughput_tp", "fig09_max_power_tp", "fig10_energy_tp",
    "fig11_ttft_vs_clock_batch", "fig12_tbt_vs_clock_batch", "fig13_max_throughput_batch",
    "fig14_max_power_batch", "fig15_energy_batch",
]


@pytest.fixture(scope="module")
def rendered(grid_table, studies, tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    results = {}
    for fid, spec in FIGURES.items():
        results[fid] = (render_to(spec, grid_table, studies[spec.study], out / f"{spec.stem}.pdf"),
                        out / spec.stem)
    return results


def test_registry_matches_the_contract():
    assert [s.stem for s in FIGURES.values()] == CONTRACT_STEMS
    assert [s.study for s in FIGURES.values()] == ["workload"] * 5 + ["tp"] * 5 + ["batch"] * 5
    assert all(s.caption and s.needs for s in FIGURES.values())


@pytest.mark.parametrize("fid", list(FIGURES))
def test_each_figure_writes_pdf_and_png_with_data(rendered, fid):
    result, stem = rendered[fid]
    assert not result.placeholder and len(result.data) > 0
    pdf, png = stem.with_suffix(".pdf"), stem.with_suffix(".png")
    assert pdf.read_bytes()[:4] == b"%PDF" and pdf.stat().st_size > 1000
    assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 1000
    assert result.data["value"].notna().all()
    assert not any(SIMULATED_BANNER in t for t in result.texts())


def test_fig01_plots_nine_workloads_at_every_clock_in_ms(rendered, synth):
    data = rendered["fig01"][0].data
    assert data["workload_id"].nunique() == 9 and len(data) == 9 * len(synth.PAPER_CLOCKS_MHZ)
    assert set(data["load_point"]) == {"medium"} and set(data["max_batch"]) == {64}
    m = synth.SynthModel()
    row = data[(data["workload_id"] == "L-S") & (data["clock_mhz"] == 800)].iloc[0]
    assert row["value"] == pytest.approx(1000 * m.ttft_p50_s(8, 64, 800, "L-S", "medium"))
    assert set(data["input"]) == {"in 100", "in 500", "in 1024"}
    assert set(data["output"]) == {"out 50", "out 128", "out 256"}


def test_fig03_has_one_row_per_cell_of_max_throughput(rendered, synth):
    data = rendered["fig03"][0].data
    assert not data.duplicated(["workload_id", "clock_mhz"]).any()
    m = synth.SynthModel()
    for r in data.itertuples():
        assert r.value == pytest.approx(m.max_throughput_rps(8, 64, r.clock_mhz, r.workload_id))


def test_tp_figures_cover_three_degrees(rendered, synth):
    for fid in ("fig06", "fig07", "fig08", "fig09", "fig10"):
        data = rendered[fid][0].data
        assert sorted(data["parallelism"].unique()) == ["TP2", "TP4", "TP8"], fid
        assert len(data) == 3 * len(synth.PAPER_CLOCKS_MHZ), fid
        assert set(data["workload_id"]) == {"M-M"}


def test_fig09_power_is_normalised_to_tp8_at_max_clock(rendered, synth):
    data = rendered["fig09"][0].data
    m = synth.SynthModel()
    ref = m.power_max_w(8, 1980)
    for r in data.itertuples():
        assert r.value == pytest.approx(m.power_max_w(r.tp, r.clock_mhz) / ref)
    assert "Normalised to TP8 @ 1980 MHz." in rendered["fig09"][0].notes


def test_fig10_and_fig15_energy_normalisation(rendered, synth):
    m = synth.SynthModel()
    d10 = rendered["fig10"][0].data
    ref = m.energy_per_request_j(8, 64, 1980, "M-M", "medium")
    row = d10[(d10["tp"] == 2) & (d10["clock_mhz"] == 1200)].iloc[0]
    assert row["value"] == pytest.approx(m.energy_per_request_j(2, 64, 1200, "M-M", "medium") / ref)
    d15 = rendered["fig15"][0].data
    assert set(d15["load_point"]) == {"low", "medium"} and len(d15) == 5 * 7 * 2
    at_ref = d15[(d15["max_batch"] == 64) & (d15["clock_mhz"] == 1980)]
    assert list(at_ref["value"]) == pytest.approx([1.0, 1.0])  # per load point
    low4 = d15[(d15["max_batch"] == 4) & (d15["clock_mhz"] == 1980) & (d15["load_point"] == "low")]
    assert low4["value"].iloc[0] == pytest.approx(0.85)


def test_fig11_includes_the_low_load_case(rendered):
    data = rendered["fig11"][0].data
    assert set(data["load"]) == {"medium load", "low load"}
    assert sorted(data["max_batch"].unique()) == [4, 8, 16, 32, 64]


def test_p90_latency_is_available(grid_table, studies, synth):
    result = render(get_figure("fig02"), grid_table, studies["workload"], percentile="p90")
    m = synth.SynthModel()
    row = result.data[(result.data["workload_id"] == "M-M") & (result.data["clock_mhz"] == 1000)]
    assert row["value"].iloc[0] == pytest.approx(1000 * 1.3 * m.tbt_p50_s(8, 1000, "M-M"))
    assert any("TBT p90" in t for t in result.texts())


def test_simulated_cells_carry_the_banner(tmp_path, studies, synth):
    synth.write_grid(tmp_path, instances=((2, 64), (4, 64)), simulated=True)
    synth.write_grid(tmp_path, instances=((8, 64),), clocks=(1980,))
    table = read_cells([tmp_path]).table
    all_sim = render(get_figure("fig06"), table[table["tp"] < 8], studies["tp"])
    assert SIMULATED_BANNER in all_sim.texts()
    mixed = render(get_figure("fig06"), table, studies["tp"])
    assert PARTLY_SIMULATED_BANNER in mixed.texts()


def test_observe_mode_plots_vs_achieved_clock_and_says_so(tmp_path, studies, synth):
    for wl, clock in (("S-S", 1702), ("M-M", 1755), ("L-L", 1801)):
        synth.write_summary(tmp_path, synth.cell_summary(8, 64, clock, wl, mode="observe"))
    result = render(get_figure("fig01"), read_cells([tmp_path]).table, studies["workload"])
    assert OBSERVED_CLOCK_NOTE in result.texts()
    assert sorted(result.data["clock_mhz"]) == [1699, 1752, 1798]  # achieved means
    assert "mean achieved SM clock (MHz)" in result.texts()
    # Only the 6 workloads without any cell are missing; no pinned clocks are expected.
    assert result.notes and result.notes[0].startswith("Not shown (6)")


def test_missing_and_failed_cells_are_listed_on_the_figure(tmp_path, studies, synth):
    synth.write_grid(tmp_path, instances=((2, 64), (4, 64), (8, 64)), skip={(4, 64, 1000, "M-M")},
                     failed={(2, 64, 800, "M-M"): "server died"})
    result = render(get_figure("fig08"), read_cells([tmp_path]).table, studies["tp"])
    assert not result.placeholder and len(result.data) == 3 * 7 - 2
    note = " ".join(result.notes)
    assert "TP4 · 1000 MHz (no cell)" in note and "TP2 · 800 MHz (failed: server died)" in note
    assert any("Not shown (2)" in t for t in result.texts())


def test_no_usable_rows_renders_a_placeholder(tmp_path, grid_table, synth):
    study = study_for("tp", {**synth.STUDIES["tp"], "tps": [16], "model": synth.MODEL})
    result = render_to(get_figure("fig06"), grid_table, study, tmp_path / "f.pdf")
    assert result.placeholder and "no cells of the tp study" in result.placeholder_reason
    assert "No data to plot" in result.texts()
    assert (tmp_path / "f.pdf").stat().st_size > 0 and (tmp_path / "f.png").stat().st_size > 0


def test_figure_lookup_and_study_mismatch(grid_table, studies):
    assert get_figure("6").fig_id == "fig06"
    assert get_figure("fig06_ttft_vs_clock_tp").fig_id == "fig06"
    assert get_figure("reports/figures/fig15_energy_batch.pdf").fig_id == "fig15"
    with pytest.raises(ConfigError, match="unknown figure"):
        get_figure("fig16")
    with pytest.raises(ConfigError, match="belongs to the 'tp' study"):
        render(get_figure("fig06"), grid_table, studies["workload"])
    with pytest.raises(ConfigError, match=r"\.pdf"):
        render_to(get_figure("fig06"), grid_table, studies["tp"], Path("x.png"))
    assert isinstance(grid_table, pd.DataFrame)
