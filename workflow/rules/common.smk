# Helpers shared by the rules: the plan (instances, cells, figures, paths) comes from
# greenllm.plan, so `greenllm plan` and this workflow can never disagree.

import json
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from greenllm import plan as gplan
from greenllm import workflow_cells as gcells
from greenllm.errors import GreenllmError

# Not snakemake.utils.validate: on a bad value it prints the whole JSON schema node over
# ten lines. gplan.effective_config validates against the same schema
# (workflow/schemas/config.schema.yaml, defaults filled in) and fails with one line that
# names the key, e.g. "config key 'clocks.mode': 'pinned' is not one of ['pin', 'observe']".
try:
    PLAN = gplan.plan_from_config(config, root=workflow.basedir)
    ESTIMATES = {e.instance_id: e for e in gplan.estimate(PLAN, workflow.basedir) or []}
except GreenllmError as err:
    raise WorkflowError(str(err)) from None

# The same validation pass as `greenllm measure --check`, for every instance, once (jobs
# re-read this file): `snakemake -n` lists every problem, one line each.
_COMPOSED = {}  # instance id -> its measure config, as the validation pass composed it
if workflow.is_main_process:
    from greenllm.measure.preflight import plan_problems

    _PROBLEMS = plan_problems(PLAN, workflow.basedir, composed=_COMPOSED)
    if _PROBLEMS:
        raise WorkflowError("\n".join(_PROBLEMS))

RESULTS = PLAN.results_dir
REPORTS = PLAN.reports_dir
LOGS = PLAN.logs_dir
# Under --sdm conda, rules run in workflow/envs/*.yaml (greenllm installed from this
# checkout): call its python, not the one running Snakemake.
_CONDA = any(m.name == "CONDA" for m in workflow.deployment_settings.deployment_method)
GREENLLM = PLAN.config.get("greenllm_cmd") or (
    "python -m greenllm.cli.main" if _CONDA
    else f"{shlex.quote(sys.executable)} -m greenllm.cli.main"
)
# vLLM only where it is needed: its wheels pull a CUDA build of torch.
MEASURE_ENV = "../envs/greenllm-vllm.yaml" if PLAN.config["engine"] == "vllm" else "../envs/greenllm.yaml"
# The Python that has greenllm: the conda env's under --sdm conda, else Snakemake's own.
PYTHON = "python" if _CONDA else shlex.quote(sys.executable)


def _alternatives(values):
    return "|".join(re.escape(v) for v in values) or "(?!)"


wildcard_constraints:
    instance=_alternatives(i.id for i in PLAN.instances),
    study=_alternatives(PLAN.study_names),
    stem=_alternatives(PLAN.figures),
    # f<MHz>, p<W>, m<MHz> and their _-joined crossings (greenllm.sweep_axes), or native
    clock=r"native|(?=[fpm])(f\d+)?(_?p\d+(\.\d+)?)?(_?m\d+)?",
    workload=r"[^/]+",


def all_figures(ext="pdf"):
    return [PLAN.figure_file(stem, ext) for stem in PLAN.figures]


def study_cell_jsons(wildcards):
    return [PLAN.cell_json(c) for c in PLAN.study(wildcards.study).cells]


def all_cell_jsons(wildcards=None):
    return [PLAN.cell_json(c) for c in PLAN.cells]


def figure_table(wildcards):
    return PLAN.study_table(PLAN.figure_study(wildcards.stem).name)


def figure_study_json(wildcards):
    return json.dumps(PLAN.study_dict(PLAN.figure_study(wildcards.stem).name), sort_keys=True)


_NEEDED = []  # the cells this run's targets read, computed once (greenllm.workflow_cells)


def needed_cells():
    # Targets are known only once the DAG is built (not while this file is parsed).
    if not _NEEDED:
        settings = workflow.dag_settings
        _NEEDED.append(gcells.needed_cells_for_run(
            PLAN, settings.targets, spawned=bool(settings.target_jobs)))
    return _NEEDED[0]


def measure_args(wildcards, input=None):
    # Only the cells this run needs: `snakemake <one figure>` measures that figure's cells.
    return shlex.join(gplan.measure_overrides(PLAN, wildcards.instance, needed_cells()))


_PLANNED = {}


def planned_instance(iid):
    # What the instance's measure job will measure under, and how many repeats
    # (measure.measured_settings.planned): a cell measured ok under other settings is
    # measured afresh, one the repeat policy wants more of gets more, so neither is
    # "measured ok" here. Only for cells on disk; the main process reuses the validation
    # pass's config, a spawned job composes its instance's once.
    if iid not in _PLANNED:
        from greenllm.measure.measured_settings import planned

        _PLANNED[iid] = planned(PLAN, iid, workflow.basedir, composed=_COMPOSED)
    return _PLANNED[iid]


def measure_trigger(wildcards):
    # The measure job's rerun trigger: the instance's settings and its needed + measured
    # cells. measure_args is derived from `input` so that Snakemake does not count it.
    union = gcells.trigger_cells(PLAN, wildcards.instance, needed_cells(),
                                 planned=planned_instance)
    cells = [gplan.Cell(wildcards.instance, *c.split("/")) for c in union]
    return shlex.join(gplan.measure_overrides(PLAN, wildcards.instance, cells) + union)


def cell_marker(wildcards):
    # A cell measured ok (under the settings planned now) is never measured again: a
    # newer marker (the instance measured more cells) must not redo its copy and
    # everything downstream.
    marker = PLAN.run_marker(wildcards.instance)
    cell = gplan.Cell(wildcards.instance, wildcards.clock, wildcards.workload)
    ok = gcells.measured_ok(PLAN, cell, planned=planned_instance)
    return ancient(marker) if ok else marker


def measure_runtime_min(wildcards):
    est = ESTIMATES.get(wildcards.instance)
    return gplan.runtime_minutes(est) if est else 24 * 60


def download_args():
    model = PLAN.config["model"]
    args = [
        "--model", model["name"],
        "--source", model["source"],
        "--load-format", model["load_format"],
        "--dest", PLAN.model_dir(),
    ]
    if model.get("repo_id"):
        args += ["--repo-id", model["repo_id"]]
    if model.get("revision"):
        args += ["--revision", model["revision"]]
    return shlex.join(args)


_CAPTIONS = gplan.load_yaml(Path(workflow.basedir) / "workflow/report/captions.yaml", "captions")
FIGURE_CAPTIONS = {k: " ".join(str(v).split()) for k, v in _CAPTIONS["figures"].items()}
STUDY_TITLES = _CAPTIONS["studies"]


def report_setup(study):
    """One line for a figure's report caption: what was measured, on what."""
    cfg = PLAN.config
    return (
        f"Preset {cfg['preset']}: model {cfg['model']['name']}, engine {cfg['engine']}, "
        f"clocks {cfg['clocks']['mode']}; instances {', '.join(PLAN.study(study).instance_ids)}."
    )


def print_run_summary(ok):
    from greenllm.workflow_summary import summary_lines

    print("\n".join(summary_lines(PLAN, sys.argv, ok=ok)), flush=True)
