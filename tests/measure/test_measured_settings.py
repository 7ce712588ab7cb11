"""A rerun under other measurement settings does not resume the old repeats.

Before, `greenllm measure` kept any cell whose summary was complete: switching the load
profile (e.g. to `budget`'s half windows) reran the Snakemake job and changed nothing,
and the old repeats were reported as the new settings' results. Now each summary records
the settings that define what a repeat measures; a rerun under others moves the cell
aside (kept) and measures it afresh, while a rerun that only asks for more repeats still
resumes."""

from __future__ import annotations

import json
from pathlib import Path

from greenllm.analysis.cells import SUPERSEDED_DIR, find_cell_files, load_summary
from greenllm.measure import measured_settings as ms
from simtest_helpers import TINY_SIM_MEASURE, measure_cli

CONFIG = {
    "load": {"repeats": 3, "max_repeats": 5, "ci_targets": {"ttft_p50_s": 0.05},
             "stop_per": "point", "engine_starts": 1, "max_duration_s": 180.0,
             "points": ["low"], "request_timeout_s": 600.0},
    "engine": {"kind": "vllm", "port": 8000, "startup_timeout_s": 900.0},
    "model": {"name": "llama-1b", "path": "/models/a"},
    "out_dir": "results/raw/x",
}


def _with(**load):
    return {**CONFIG, "load": {**CONFIG["load"], **load}}


def test_repeat_counts_and_places_are_not_measured_settings():
    base = ms.measured_settings(CONFIG)
    assert base["load"] == {"max_duration_s": 180.0, "points": ["low"]}
    assert base["engine"] == {"kind": "vllm"} and base["model"] == {"name": "llama-1b"}
    for more in ({"repeats": 5}, {"max_repeats": 8}, {"engine_starts": 3},
                 {"ci_targets": {"ttft_p50_s": 0.02}}, {"stop_per": "cell"}):
        assert ms.digest(ms.measured_settings(_with(**more))) == ms.digest(base)
    moved = {**CONFIG, "model": {"name": "llama-1b", "path": "/elsewhere"}}
    assert ms.digest(ms.measured_settings(moved)) == ms.digest(base)
    half = ms.measured_settings(_with(max_duration_s=90.0, points=["low", "high"]))
    assert ms.changed_keys(base, half) == ["load.max_duration_s", "load.points"]
    # a key one side lacks (a newer greenllm's new setting) is no change: an upgrade must
    # not measure a campaign in progress again
    newer = {**base, "load": {**base["load"], "new_knob": 1}, "extra_group": {"a": 1}}
    assert ms.changed_keys(base, newer) == []


def _cell(out: Path, name: str, summary: dict | None) -> Path:
    cdir = out / "cells" / "native" / name
    cdir.mkdir(parents=True)
    if summary is not None:
        (cdir / "summary.json").write_text(json.dumps(summary))
    (cdir / "requests.r0.parquet").write_text("data")
    return cdir


def test_cells_without_their_own_record_fall_back_to_instance_json(tmp_path):
    # summaries from before the record: the settings of the last run (instance.json)
    (tmp_path / "instance.json").write_text(json.dumps({"config": CONFIG}))
    old = _cell(tmp_path, "S-S", {"status": "ok"})
    same = _cell(tmp_path, "M-M", {"status": "ok",
                                   "measured_settings": ms.record(_with(max_duration_s=90.0))})
    absent = _cell(tmp_path, "L-L", None)
    current = ms.measured_settings(_with(max_duration_s=90.0))
    found = ms.stale([old, same, absent], [{"status": "ok"},
                     json.loads((same / "summary.json").read_text()), None], tmp_path, current)
    assert found == {old: ["load.max_duration_s"]}
    assert old.exists()  # deciding moves nothing
    notes: list[str] = []
    (moved,) = ms.set_aside(found, tmp_path, notes.append)
    assert moved.relative_to(tmp_path).parts[0] == ms.SUPERSEDED
    assert (moved / "requests.r0.parquet").read_text() == "data"  # kept, whole
    assert not old.exists() and same.exists() and absent.exists()
    assert len(notes) == 1 and "(load.max_duration_s)" in notes[0]
    # with neither record nor instance.json a cell is kept, as before
    (tmp_path / "instance.json").unlink()
    assert ms.stale([same], [{"status": "ok"}], tmp_path, current) == {}
    assert ms.set_aside({}, tmp_path, notes.append) == [] and len(notes) == 1


def test_aggregate_skips_superseded_cells(tmp_path):
    assert SUPERSEDED_DIR == ms.SUPERSEDED
    kept = _cell(tmp_path, "S-S", {"status": "ok"})
    aside = tmp_path / ms.SUPERSEDED / "20261208T000000" / "cells" / "native" / "S-S"
    aside.mkdir(parents=True)
    (aside / "summary.json").write_text("{}")
    assert find_cell_files([tmp_path]) == [kept / "summary.json"]
    assert find_cell_files([aside / "summary.json"]) == [aside / "summary.json"]


def test_rerun_end_to_end_resumes_more_repeats_and_remeasures_other_settings(tmp_path):
    base = [*TINY_SIM_MEASURE, "clocks.mhz=[1980]"]
    first = measure_cli(tmp_path, [*base, "load.repeats=2"])
    assert first.returncode == 0, first.stderr[-2000:]
    (path,) = (tmp_path / "raw/cells").rglob("summary.json")
    assert load_summary(path)["measured_settings"]["values"]["load"]["requests_per_point"] == 8

    more = measure_cli(tmp_path, [*base, "load.repeats=3"])  # same settings: resumes
    assert more.returncode == 0, more.stderr[-2000:]
    assert "0/1 cells already measured" in more.stderr
    assert load_summary(path)["repeats_done"] == 3
    assert not (tmp_path / "raw" / ms.SUPERSEDED).exists()

    other = measure_cli(tmp_path, [*base, "load.repeats=3", "load.requests_per_point=6"])
    assert other.returncode == 0, other.stderr[-2000:]
    assert "measured under other settings (load.requests_per_point)" in other.stderr
    (aside,) = (tmp_path / "raw" / ms.SUPERSEDED).rglob("summary.json")
    assert load_summary(aside)["repeats_done"] == 3  # the old repeats, kept
    new = load_summary(path)
    assert new["repeats_done"] == 3
    assert new["measured_settings"]["values"]["load"]["requests_per_point"] == 6
    assert {p["n_requests"] for p in new["load_points"]} == {6}
    assert find_cell_files([tmp_path / "raw"]) == [path]
