"""greenllm replaces only what it created: model folders, results folders, report files.

The data-loss case of issue 14 (a ``model.path`` without ``config.json`` holding a
user's weights and notes) runs through the real ``greenllm measure`` CLI, in process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from greenllm.cli.main import main
from greenllm.load.model_folder import build_model_folder
from greenllm.load.shapes import SHAPES
from greenllm.ownership import (
    MARKER,
    OwnershipError,
    check_results_folder,
    claim_report_files,
    claim_results_folder,
)

TINY_SHAPE = dict(SHAPES["llama-1b"], vocab_size=64)


def user_folder(path: Path) -> dict[str, bytes]:
    path.mkdir(parents=True)
    files = {"model.safetensors": b"\x00weights" * 10, "tokenizer.model": b"sp",
             "notes.txt": b"my notes"}
    for name, data in files.items():
        (path / name).write_bytes(data)
    return files


def unchanged(path: Path, files: dict[str, bytes]) -> bool:
    return {p.name: p.read_bytes() for p in path.iterdir()} == files


def test_measure_never_wipes_a_user_model_folder(tmp_path, capsys):
    """The data-loss case: dummy weights, model.path without config.json."""
    model = tmp_path / "my-model"
    files = user_folder(model)
    code = main(["measure", f"out_dir={tmp_path / 'raw'}", f"model.path={model}",
                 "model=llama-1b", "engine=sim", "instance=tp1", "workload=smoke"])
    err = capsys.readouterr().err
    assert code != 0
    assert unchanged(model, files)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "did not create" in lines[0] and "notes.txt" in lines[0], err
    assert not (tmp_path / "raw").exists()  # nothing written to results


def test_build_model_folder_refuses_a_user_folder(tmp_path):
    files = user_folder(tmp_path / "m")
    with pytest.raises(OwnershipError, match="did not create"):
        build_model_folder(tmp_path / "m", TINY_SHAPE, "tiny")
    assert unchanged(tmp_path / "m", files)


def test_rebuild_of_own_folder_is_allowed_until_a_user_adds_a_file(tmp_path):
    dest = build_model_folder(tmp_path / "m", TINY_SHAPE, "tiny")
    marker = json.loads((dest / "greenllm_model.json").read_text())
    assert set(marker["files"]) == {p.name for p in dest.iterdir()}
    build_model_folder(dest, dict(TINY_SHAPE, num_hidden_layers=3), "tiny")  # ours: rebuilt
    assert json.loads((dest / "config.json").read_text())["num_hidden_layers"] == 3
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(OwnershipError, match="notes.txt"):
        build_model_folder(dest, TINY_SHAPE, "tiny")
    assert (dest / "notes.txt").read_text() == "mine"


def test_model_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "m").write_text("x")
    with pytest.raises(OwnershipError, match="is a file"):
        build_model_folder(tmp_path / "m", TINY_SHAPE, "tiny")
    assert (tmp_path / "m").read_text() == "x"


def test_download_builtin_refuses_a_user_folder(tmp_path, capsys):
    files = user_folder(tmp_path / "dest")
    code = main(["download", "--model", "llama-1b", "--source", "builtin",
                 "--dest", str(tmp_path / "dest")])
    assert code != 0 and unchanged(tmp_path / "dest", files)
    assert "did not create" in capsys.readouterr().err


def test_results_folder_ownership(tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    with pytest.raises(OwnershipError, match="thesis.tex"):
        claim_results_folder(foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]
    fresh = claim_results_folder(tmp_path / "new" / "raw")
    assert (fresh / MARKER).is_file()
    (fresh / "cells").mkdir()
    check_results_folder(fresh)  # its own: fine
    legacy = tmp_path / "legacy"  # written by an older greenllm: instance.json says so
    legacy.mkdir()
    (legacy / "instance.json").write_text(json.dumps({"instance_id": "x_tp1_b8"}))
    claim_results_folder(legacy)
    assert (legacy / MARKER).is_file()
    stopped = tmp_path / "stopped"  # an older run stopped before it wrote instance.json
    stopped.mkdir()
    (stopped / "simgpu.state").write_bytes(b"x")
    (stopped / "engine.log").write_text("x")
    claim_results_folder(stopped)
    (stopped / "thesis.tex").write_text("x")  # ... but not once a user's file is there
    (stopped / MARKER).unlink()
    with pytest.raises(OwnershipError, match="thesis.tex"):
        check_results_folder(stopped)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OwnershipError, match="not a folder"):
        check_results_folder(tmp_path / "file")


def test_report_files_never_replace_a_user_file(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "claims.md").write_text("my own claims")
    with pytest.raises(OwnershipError, match="did not write"):
        claim_report_files([reports / "claims.md", reports / "claims.csv"])
    assert (reports / "claims.md").read_text() == "my own claims"
    claim_report_files([reports / "fig.pdf", reports / "fig.png"])
    (reports / "fig.pdf").write_text("v1")
    claim_report_files([reports / "fig.pdf", reports / "fig.png"])  # greenllm's: replaceable
    assert json.loads((reports / MARKER).read_text())["files"] == ["fig.pdf", "fig.png"]


def test_claims_cli_refuses_to_replace_a_user_file(tmp_path, capsys):
    out = tmp_path / "claims.md"
    out.write_text("mine")
    code = main(["claims", "--table", str(tmp_path / "none.parquet"), "--studies", "{}",
                 "--out", str(out)])
    assert code != 0 and out.read_text() == "mine"
    assert "did not write" in capsys.readouterr().err
