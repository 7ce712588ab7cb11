# Helpers shared by the rules: the plan (instances, cells, figures, paths) comes from
# greenllm.plan, so `greenllm plan` and this workflow can never disagree.

import json
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from greenllm import plan as gplan
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

RESULTS = PLAN.results_dir
REPORTS = PLAN.reports_dir
LOGS = PLAN.logs_dir
GREENLLM = PLAN.config.get("greenllm_cmd") or (
    f"{shlex.quote(sys.executable)} -m greenllm.cli.main"
)
PYTHON = shlex.quote(sys.executable)  # the Python running Snakemake (has greenllm)


def _alternatives(values):
    return "|".join(re.escape(v) for v in values) or "(?!)"


wildcard_constraints:
    instance=_alternatives(i.id for i in PLAN.instances),
    study=_alternatives(PLAN.study_names),
    stem=_alternatives(PLAN.figures),
    clock=r"f\d+|native",
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


def measure_args(wildcards):
    return shlex.join(gplan.measure_overrides(PLAN, wildcards.instance))


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
