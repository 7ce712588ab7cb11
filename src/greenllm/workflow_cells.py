"""Which cells a Snakemake run needs, and when a measure job must run again.

Used by workflow/rules/common.smk (the rules stay thin):

* ``cells_for_targets``: the cells the requested targets read. `snakemake fig07_...`
  needs the TP study's cells only, so the measure job of an instance that also serves
  other studies measures only those (still one engine start per instance).
* ``needed_cells_for_run``: the same, for a whole run. The main Snakemake process knows
  the targets; a job it spawns (Slurm, or a local job run in its own process) does not,
  so the main process hands its answer down in ``$GREENLLM_WORKFLOW_CELLS`` (the Slurm
  plugin submits with ``--export=ALL``).
* ``measured_ok``: a cell whose raw summary says ok, under the settings and repeat policy
  planned now, is never measured again (a measure run skips it), so its copy need not be
  redone when the instance's marker changes: the cell rule reads the marker as
  ``ancient`` then. Adding a clock reruns only the new cells and what reads them.
* ``trigger_cells``: what a measure job's rerun trigger (its params) records: the needed
  cells plus those already measured. It grows when new cells are needed (rerun: measure
  the new ones) and stays put when a smaller target follows a bigger run (no rerun).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from greenllm.plan import FIGURE_STUDY, Cell, Plan

if TYPE_CHECKING:
    from greenllm.measure.measured_settings import Planned

ENV = "GREENLLM_WORKFLOW_CELLS"
# Targets that read every planned cell; any target not recognised also counts as this
# (never measure less than a target might read).
_ALL_RULES = ("all", "cells_table", "claims")
_NO_CELL_RULES = ("reference_figures",)


def _norm(target: str, workdir: Path) -> str:
    path = Path(target)
    if path.is_absolute():
        try:
            path = path.relative_to(workdir)
        except ValueError:
            return target
    return str(PurePosixPath(*path.parts)) if path.parts else target


def cells_for_target(plan: Plan, target: str, workdir: Path) -> tuple[Cell, ...] | None:
    """The cells one target reads; None for "every planned cell"."""
    if target in _ALL_RULES:
        return None
    if target in _NO_CELL_RULES:
        return ()
    t = _norm(target, workdir)
    if t.startswith(f"{plan.reports_dir}/reference/") or t.startswith(f"{plan.results_dir}/reference/"):
        return ()
    for stem in plan.figures:
        if t in (plan.figure_file(stem, "pdf"), plan.figure_file(stem, "png")):
            return plan.study(FIGURE_STUDY[stem]).cells
    for study in plan.studies:
        if t == plan.study_table(study.name):
            return study.cells
    for inst in plan.instances:
        if t == plan.run_marker(inst.id):
            return inst.cells
    for cell in plan.cells:
        if t == plan.cell_json(cell):
            return (cell,)
    if t == plan.model_marker():
        return ()
    return None


def cells_for_targets(plan: Plan, targets: Iterable[str], workdir: str | os.PathLike[str] = ".") -> tuple[Cell, ...]:
    """The planned cells the targets read, in plan order (no targets: the default, all)."""
    targets = list(targets)
    if not targets:
        return plan.cells
    wanted: set[Cell] = set()
    for target in targets:
        cells = cells_for_target(plan, target, Path(os.path.abspath(workdir)))
        if cells is None:
            return plan.cells
        wanted.update(cells)
    return tuple(c for c in plan.cells if c in wanted)


def _encode(cells: Iterable[Cell]) -> str:
    return json.dumps(sorted([c.instance_id, c.clock, c.workload] for c in cells))


def needed_cells_for_run(plan: Plan, targets: Iterable[str], spawned: bool,
                         environ: MutableMapping[str, str] = os.environ) -> tuple[Cell, ...]:
    """The cells this run needs. In the main process (``spawned`` False) from the
    targets, published in ``environ[ENV]``; in a spawned job, read back from there
    (every planned cell when it is absent)."""
    if spawned:
        text = environ.get(ENV)
        if not text:
            return plan.cells
        wanted = {Cell(*row) for row in json.loads(text)}
        return tuple(c for c in plan.cells if c in wanted)
    cells = cells_for_targets(plan, targets)
    environ[ENV] = _encode(cells)
    return cells


def measured_ok(plan: Plan, cell: Cell, workdir: str | os.PathLike[str] = ".",
                planned: Callable[[str], Planned | None] | None = None) -> bool:
    """The cell's raw summary says ok and a measure run would leave it as it is: its copy
    stays valid. With ``planned`` (an instance's planned settings and repeat policy,
    ``measure.measured_settings.planned``) the run's own rules decide: a cell measured
    under other settings is measured afresh, and one the policy wants more repeats of
    (a raised count or cap, tighter targets) gets them, so either copy must be redone.
    Without, the summary's own policy: a fixed count reached, or an adaptive stop."""
    path = Path(workdir) / plan.raw_summary(cell)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(record, Mapping) or record.get("status") != "ok":
        return False
    now = planned(cell.instance_id) if planned is not None else None
    if now is None:
        if (record.get("repeat_policy") or {}).get("mode") == "adaptive":
            return True  # ok: stopped on its targets or its cap, not at the cap's count
        repeats, done = record.get("repeats"), record.get("repeats_done")
        return repeats is None or done is None or done >= repeats
    from greenllm.measure.adaptive import wants_more_repeats
    from greenllm.measure.measured_settings import changed_keys, recorded

    if wants_more_repeats(now.policy, record):
        return False
    then = recorded(record, Path(workdir) / plan.raw_dir(cell.instance_id))
    return then is None or not changed_keys(then, now.settings)


def instance_cells(cells: Iterable[Cell], iid: str) -> tuple[Cell, ...]:
    return tuple(c for c in cells if c.instance_id == iid)


def trigger_cells(plan: Plan, iid: str, needed: Iterable[Cell],
                  workdir: str | os.PathLike[str] = ".",
                  planned: Callable[[str], Planned | None] | None = None) -> list[str]:
    """``clock/workload`` of the instance's needed cells plus its planned cells already
    measured ok (under the planned settings and repeats, with ``planned``), sorted: a
    measure job's params (its rerun trigger)."""
    mine = set(instance_cells(needed, iid))
    mine |= {c for c in plan.instance(iid).cells
             if measured_ok(plan, c, workdir, planned)}
    return sorted(f"{c.clock}/{c.workload}" for c in mine)
