"""`greenllm aggregate | figure | claims` end to end on synthetic cells, via the real CLI."""

from __future__ import annotations

import json

import pytest

from greenllm.cli.main import main
from greenllm.figures.registry import EXTRA_FIGURES


@pytest.fixture(scope="module")
def table_path(grid_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("tables") / "cells.parquet"
    assert main(["aggregate", "--cells", str(grid_dir / "raw"), "--out", str(out)]) == 0
    return out


def test_aggregate_writes_table_csv_and_sanity(table_path, capsys):
    assert table_path.exists() and table_path.with_suffix(".csv").exists()
    # One sanity report and one statistics table per table: <stem>.sanity.md, .summary.*
    assert (table_path.parent / "cells.sanity.md").exists()
    assert (table_path.parent / "cells.summary.parquet").exists()
    assert (table_path.parent / "cells.summary.csv").exists()


def test_aggregate_malformed_file_is_one_line_naming_it(tmp_path, capsys):
    bad = tmp_path / "c" / "summary.json"
    bad.parent.mkdir()
    bad.write_text('{"schema": "greenllm.cell/1", "status": "ok"}')
    assert main(["aggregate", "--cells", str(tmp_path), "--out", str(tmp_path / "t.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("greenllm: error:") and str(bad) in err and "\n" not in err


def test_figure_command_writes_pdf_and_png(table_path, tmp_path, synth, capsys):
    study = json.dumps({**synth.STUDIES["tp"], "clocks": synth.STUDIES["clocks"],
                        "model": synth.MODEL})
    out = tmp_path / "reports" / "figures" / "fig08_max_throughput_tp.pdf"
    rc = main(["figure", "fig08", "--table", str(table_path), "--study", study, "--out", str(out)])
    assert rc == 0 and out.exists() and out.with_suffix(".png").exists()
    assert "fig08: 21 rows" in capsys.readouterr().err


def test_figure_without_rows_reports_placeholder_on_stderr(table_path, tmp_path, synth, capsys):
    study = json.dumps({**synth.STUDIES["batch"], "max_batches": [128]})
    out = tmp_path / "fig13.pdf"
    rc = main(["figure", "fig13_max_throughput_batch", "--table", str(table_path),
               "--study", study, "--out", str(out)])
    assert rc == 0 and out.exists()
    assert "no usable rows" in capsys.readouterr().err


def test_figure_list_and_bad_arguments(table_path, tmp_path, capsys):
    assert main(["figure", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 15 + len(EXTRA_FIGURES) and lines[0].split("\t")[:3] == [
        "fig01", "fig01_ttft_vs_clock_workloads", "workload"]
    assert main(["figure", "fig01"]) == 2
    assert "--table, --study, --out" in capsys.readouterr().err
    assert main(["figure", "fig01", "--table", str(table_path), "--study", "{bad",
                 "--out", str(tmp_path / "f.pdf")]) == 2
    assert "--study is not valid JSON" in capsys.readouterr().err
    assert main(["figure", "fig01", "--table", str(tmp_path / "none.parquet"), "--study", "{}",
                 "--out", str(tmp_path / "f.png")]) == 2
    assert ".pdf" in capsys.readouterr().err


def test_claims_command_writes_md_and_csv(table_path, tmp_path, synth, capsys):
    out = tmp_path / "reports" / "claims.md"
    rc = main(["claims", "--table", str(table_path), "--studies", json.dumps(synth.STUDIES),
               "--out", str(out)])
    assert rc == 0
    assert "| ss_half_clock_throughput |" in out.read_text()
    assert out.with_suffix(".csv").exists()
    assert "10 claims" in capsys.readouterr().err  # the paper's (no power-limit cells: no knob row)
