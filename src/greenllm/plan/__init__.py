"""From the workflow config to the measurement plan: engine instances, cells, figures.

Pure functions (apart from the small YAML loaders) shared by the Snakefile
(``workflow/rules/common.smk``) and ``greenllm plan``; one module per step:

* ``config_files.effective_config``: preset (``config/presets/<name>.yaml``) < Snakemake
  config (``config/config.yaml`` < ``--configfile`` < ``--config``), coerced and validated
  (``schema``) against ``workflow/schemas/config.schema.yaml`` with one-line errors
  naming the key.
* ``grid.build_plan``: the studies (workload / tp / batch) each need engine instances
  ``(model, tp, max_batch)`` and cells ``(clock, workload)`` on them; an instance used
  by several studies appears once, serving the union of their cells, so its engine is
  started once for all of them.
* ``overrides.measure_overrides``: the Hydra overrides of ``greenllm measure`` for one
  instance.
* ``estimate.estimate``: a GPU-hour upper bound from the search/probe budget and the
  model size.

Everything is re-exported here, so ``from greenllm import plan as gplan`` keeps working.
"""

from __future__ import annotations

from greenllm.plan.config_files import (
    BASE_CONFIG_RELPATH,
    MEASURE_CONFIG_RELPATH,
    PRESETS_RELPATH,
    SCHEMA_RELPATH,
    deep_merge,
    effective_config,
    find_root,
    load_yaml,
    preset_path,
)
from greenllm.plan.estimate import (
    ESTIMATE_FALLBACKS,
    ESTIMATE_FORMULA,
    InstanceEstimate,
    estimate,
    estimate_instance,
    load_measure_groups,
    model_params,
    runtime_minutes,
)
from greenllm.plan.figures import FIGURE_STUDY, FIGURES, STUDY_NAMES
from greenllm.plan.grid import (
    Cell,
    Instance,
    Plan,
    Study,
    build_plan,
    clock_label,
    instance_id,
    plan_from_config,
)
from greenllm.plan.overrides import hydra_value, measure_overrides
from greenllm.plan.schema import check_config, coerce_to_schema, validate_config

__all__ = [
    "BASE_CONFIG_RELPATH", "ESTIMATE_FALLBACKS", "ESTIMATE_FORMULA", "FIGURES", "FIGURE_STUDY",
    "MEASURE_CONFIG_RELPATH", "PRESETS_RELPATH", "SCHEMA_RELPATH", "STUDY_NAMES", "Cell",
    "Instance", "InstanceEstimate", "Plan", "Study", "build_plan", "check_config",
    "clock_label", "coerce_to_schema", "deep_merge", "effective_config", "estimate",
    "estimate_instance", "find_root", "hydra_value", "instance_id", "load_measure_groups",
    "load_yaml", "measure_overrides", "model_params", "plan_from_config", "preset_path",
    "runtime_minutes", "validate_config",
]
