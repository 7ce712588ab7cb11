"""What a target measures and what a rerun redoes (greenllm.workflow_cells + the rules):
one figure measures only its study's cells; a cell measured ok is not redone when its
instance's marker changes; a measure job reruns only when its cells grow."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from smk_run import ROOT, finish, job_stats, start, workdir_for

from greenllm import plan as gplan
from greenllm import workflow_cells as gcells

FIG07 = "reports/figures/fig07_tbt_vs_clock_tp.pdf"
SIM = str(ROOT / "profiles/sim")
# the smoke preset on the live sim engine (the sim profile's default is the paper grid)
SMOKE = ("--config", "engine=sim", "preset=smoke")


@pytest.fixture(scope="module")
def smoke() -> gplan.Plan:
    return gplan.plan_from_config({"preset": "smoke", "engine": "sim"}, ROOT, workdir=ROOT)


def labels(cells) -> list[str]:
    return sorted(f"{c.instance_id}/{c.clock}/{c.workload}" for c in cells)


def test_a_figure_needs_its_studys_cells_only(smoke, tmp_path) -> None:
    tp = labels(gcells.cells_for_targets(smoke, [FIG07], tmp_path))
    assert tp == [f"llama-1b_tp{t}_b64/{c}/M-M" for t in (1, 2) for c in ("f1000", "f1980")]
    # png, absolute paths and study tables name the same cells
    png = str(tmp_path / FIG07.replace(".pdf", ".png"))
    assert labels(gcells.cells_for_targets(smoke, [png], tmp_path)) == tp
    assert labels(gcells.cells_for_targets(smoke, ["results/tables/tp.parquet"], tmp_path)) == tp
    everything = labels(smoke.cells)
    for targets in ([], ["all"], ["reports/claims.md"], ["something/else.txt"]):
        assert labels(gcells.cells_for_targets(smoke, targets, tmp_path)) == everything, targets
    assert gcells.cells_for_targets(smoke, ["reference_figures"], tmp_path) == ()


def test_spawned_jobs_get_the_main_process_answer(smoke) -> None:
    env: dict[str, str] = {}
    main = gcells.needed_cells_for_run(smoke, [FIG07], spawned=False, environ=env)
    assert len(main) == 4 and gcells.ENV in env
    assert gcells.needed_cells_for_run(smoke, [], spawned=True, environ=env) == main
    assert gcells.needed_cells_for_run(smoke, [], spawned=True, environ={}) == smoke.cells


def write_summary(workdir: Path, plan: gplan.Plan, cell: gplan.Cell, status: str) -> Path:
    path = workdir / plan.raw_summary(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "greenllm.cell/1", "status": status, "repeats": 1,
                                "repeats_done": 1}))
    return path


def test_trigger_grows_with_needed_cells_not_with_a_smaller_target(smoke, tmp_path) -> None:
    iid = "llama-1b_tp1_b64"
    fig07 = gcells.cells_for_targets(smoke, [FIG07], tmp_path)
    first = gcells.trigger_cells(smoke, iid, fig07, tmp_path)
    assert first == ["f1000/M-M", "f1980/M-M"]
    for cell in smoke.instance(iid).cells:  # `all` measured every cell of the instance
        write_summary(tmp_path, smoke, cell, "ok")
    after_all = gcells.trigger_cells(smoke, iid, smoke.cells, tmp_path)
    assert len(after_all) == 6 and after_all != first  # grew: the measure job reran
    # fig07 again after `all`: same trigger as `all` recorded, so no measure job
    assert gcells.trigger_cells(smoke, iid, fig07, tmp_path) == after_all
    write_summary(tmp_path, smoke, gplan.Cell(iid, "f1000", "S-S"), "failed")
    assert not gcells.measured_ok(smoke, gplan.Cell(iid, "f1000", "S-S"), tmp_path)


def test_measure_overrides_restricted_to_the_needed_grid(smoke) -> None:
    cells = [gplan.Cell("llama-1b_tp1_b64", "f1980", "M-M")]
    args = gplan.measure_overrides(smoke, "llama-1b_tp1_b64", cells)
    assert "clocks.mhz=[1980]" in args and "workload.ids=[M-M]" in args
    assert "load.points=[low,medium]" in args  # load points stay the instance's
    full = gplan.measure_overrides(smoke, "llama-1b_tp1_b64")
    assert "clocks.mhz=[1000,1980]" in full and "workload.ids=[S-S,M-M,L-L]" in full


@pytest.fixture(scope="module")
def runs(tmp_path_factory, smoke):
    """Dry runs of the real CLI, started together."""
    base = tmp_path_factory.mktemp("needed")
    # A measured instance whose marker is newer than its cell copies: one cell ok, one
    # failed (a rerun of the instance, e.g. --forcerun measure, touched the marker).
    wd = workdir_for(base / "ancient")
    iid = "llama-1b_tp2_b64"
    ok, failed = gplan.Cell(iid, "f1000", "M-M"), gplan.Cell(iid, "f1980", "M-M")
    for cell, status in ((ok, "ok"), (failed, "failed")):
        write_summary(wd, smoke, cell, status)
        out = wd / smoke.cell_json(cell)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("{}")
    model = wd / smoke.model_marker()
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_text("{}")
    old = time.time() - 3600
    for path in (model, wd / smoke.cell_json(ok), wd / smoke.cell_json(failed)):
        os.utime(path, (old, old))
    marker = wd / smoke.run_marker(iid)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("{}")
    procs = {
        "fig07": start(workdir_for(base / "fig07"), "--workflow-profile", SIM, *SMOKE, "-n",
                       "-p", "--quiet", "host", "--", FIG07),
        "ancient": start(wd, "--workflow-profile", SIM, *SMOKE, "-n", "--quiet", "host", "--",
                         smoke.cell_json(ok),
                         smoke.cell_json(failed)),
    }
    return {name: finish(proc) for name, proc in procs.items()}


def test_one_figure_measures_only_its_cells_one_engine_per_instance(runs) -> None:
    r = runs["fig07"]
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_stats(out) == {"download": 1, "measure": 2, "cell": 4, "study_table": 1,
                              "figure": 1}
    cmds = [line for line in out.splitlines() if " measure out_dir=" in line]
    assert len(cmds) == 2  # TP 1 and TP 2, one engine each
    # tp1_b64 also serves the workload study (S-S, M-M, L-L): fig07 reads M-M only
    assert all("'workload.ids=[M-M]'" in c and "'clocks.mhz=[1000,1980]'" in c for c in cmds), cmds


def test_a_cell_measured_ok_is_not_copied_again(runs, smoke) -> None:
    r = runs["ancient"]
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert job_stats(out) == {"cell": 1}, out[-3000:]
    assert re.search(r"output: results/cells/llama-1b_tp2_b64/f1980/M-M\.json", out), out[-3000:]


def test_a_cell_measured_ok_under_other_settings_is_not_measured_ok(smoke, tmp_path) -> None:
    # measure.measured_settings: a rerun measures it afresh, so its copy must be redone
    from greenllm.measure import measured_settings as ms
    from greenllm.measure.compose import compose, to_plain

    iid, cell = "llama-1b_tp1_b64", gplan.Cell("llama-1b_tp1_b64", "f1000", "S-S")
    planned = ms.planned(smoke, iid, ROOT)
    assert planned is not None and planned.settings["load"]["points"] == ["low", "medium"]
    assert planned.policy.fixed == 1  # the smoke preset's load.repeats
    # the workflow's main process reuses the validation pass's configs: the same answer
    from greenllm.measure.preflight import plan_problems

    composed: dict = {}
    assert plan_problems(smoke, ROOT, composed=composed) == []
    assert set(composed) == {i.id for i in smoke.instances}
    assert ms.planned(smoke, iid, ROOT, composed=composed) == planned
    # a job measuring only some cells (clocks.mhz, workload.ids) measures under the same
    one = gplan.measure_overrides(smoke, iid, [gplan.Cell(iid, "f1980", "M-M")])
    assert ms.measured_settings(to_plain(compose(one, ROOT / "config" / "measure"))) \
        == planned.settings

    path = write_summary(tmp_path, smoke, cell, "ok")
    summary = json.loads(path.read_text())

    def ok_with(values) -> bool:
        path.write_text(json.dumps({**summary, "measured_settings": ms.record(values)}))
        return gcells.measured_ok(smoke, cell, tmp_path, planned=lambda _: planned)

    settings = planned.settings
    assert ok_with(settings)
    assert not ok_with({**settings, "load": {**settings["load"], "max_duration_s": 1.0}})
    # a key only the newer side has (a newer greenllm's new setting) does not count
    assert ok_with({**settings, "load": {k: v for k, v in settings["load"].items()
                                         if k != "exact_rate"}})
    assert gcells.measured_ok(smoke, cell, tmp_path)  # without planned settings: as before


def test_a_cell_that_stopped_early_is_measured_ok_unless_the_policy_wants_more(
        smoke, tmp_path) -> None:
    # An adaptive cell stops before its cap (targets met); ok under its own policy and
    # under the same one planned again, not under one that asks for more repeats.
    from greenllm.measure import measured_settings as ms
    from greenllm.measure.adaptive import DEFAULT_CI_TARGETS, repeat_policy

    iid, cell = "llama-1b_tp1_b64", gplan.Cell("llama-1b_tp1_b64", "f1000", "S-S")
    path = write_summary(tmp_path, smoke, cell, "ok")
    settings = ms.planned(smoke, iid, ROOT).settings
    path.write_text(json.dumps({
        **json.loads(path.read_text()), "repeats": 5, "repeats_done": 3,
        "measured_settings": ms.record(settings),
        "repeat_policy": {"mode": "adaptive", "max_repeats": 5, "stopped": "targets_met"}}))
    assert gcells.measured_ok(smoke, cell, tmp_path)  # its own policy: stopped early, ok

    def ok_under(policy) -> bool:
        return gcells.measured_ok(smoke, cell, tmp_path,
                                  planned=lambda _: ms.Planned(settings, policy))

    assert ok_under(repeat_policy(3, None, 5))  # a fixed 3: reached
    assert not ok_under(repeat_policy(5, None, 5))  # a fixed 5: two more repeats
    assert ok_under(repeat_policy(None, DEFAULT_CI_TARGETS, 3))  # capped at 3: reached
    # a cap of 5 with nothing in the summary to meet the targets: the run goes on
    assert not ok_under(repeat_policy(None, DEFAULT_CI_TARGETS, 5))
    # and the measure job's trigger counts it only when ok
    assert "f1000/S-S" not in gcells.trigger_cells(
        smoke, iid, [], tmp_path, planned=lambda _: ms.Planned(settings, repeat_policy(5, None, 5)))
    assert gcells.trigger_cells(smoke, iid, [], tmp_path) == ["f1000/S-S"]
