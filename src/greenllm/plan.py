"""From the workflow config to the measurement plan: engine instances, cells, figures.

Pure functions (apart from the small YAML loaders at the top) shared by the Snakefile
(``workflow/rules/common.smk``) and ``greenllm plan``:

* ``effective_config``: preset (``config/presets/<name>.yaml``) < Snakemake config
  (``config/config.yaml`` < ``--configfile`` < ``--config``), coerced and validated
  against ``workflow/schemas/config.schema.yaml`` with one-line errors naming the key.
* ``build_plan``: the studies (workload / tp / batch) each need engine instances
  ``(model, tp, max_batch)`` and cells ``(clock, workload)`` on them; an instance used
  by several studies appears once, serving the union of their cells, so its engine is
  started once for all of them.
* ``measure_overrides``: the Hydra overrides of ``greenllm measure`` for one instance.
* ``estimate``: a GPU-hour upper bound from the search/probe budget and the model size.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError

# --- studies and figures (the shared contract) -------------------------------------

STUDY_NAMES: tuple[str, ...] = ("workload", "tp", "batch")

FIGURES: tuple[tuple[str, str], ...] = (
    ("fig01_ttft_vs_clock_workloads", "workload"),
    ("fig02_tbt_vs_clock_workloads", "workload"),
    ("fig03_max_throughput_vs_clock_workloads", "workload"),
    ("fig04_max_power_vs_clock_workloads", "workload"),
    ("fig05_energy_vs_clock_workloads", "workload"),
    ("fig06_ttft_vs_clock_tp", "tp"),
    ("fig07_tbt_vs_clock_tp", "tp"),
    ("fig08_max_throughput_tp", "tp"),
    ("fig09_max_power_tp", "tp"),
    ("fig10_energy_tp", "tp"),
    ("fig11_ttft_vs_clock_batch", "batch"),
    ("fig12_tbt_vs_clock_batch", "batch"),
    ("fig13_max_throughput_batch", "batch"),
    ("fig14_max_power_batch", "batch"),
    ("fig15_energy_batch", "batch"),
)
FIGURE_STUDY: dict[str, str] = dict(FIGURES)

# --- locating and loading config files ---------------------------------------------

SCHEMA_RELPATH = Path("workflow/schemas/config.schema.yaml")
BASE_CONFIG_RELPATH = Path("config/config.yaml")
PRESETS_RELPATH = Path("config/presets")
MEASURE_CONFIG_RELPATH = Path("config/measure")


def find_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The greenllm checkout holding ``Snakefile`` and ``config/presets``.

    Searched upwards from ``start`` (default: the working directory), then the checkout
    this module was imported from (editable installs).
    """
    here = Path(start or os.getcwd()).resolve()
    candidates = [here, *here.parents, Path(__file__).resolve().parents[2]]
    for cand in candidates:
        if (cand / "Snakefile").is_file() and (cand / PRESETS_RELPATH).is_dir():
            return cand
    raise ConfigError(
        f"no greenllm checkout (Snakefile + {PRESETS_RELPATH}/) at or above {here}: "
        "run from the repository or pass --root"
    )


def load_yaml(path: str | os.PathLike[str], what: str = "config") -> dict[str, Any]:
    import yaml

    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} file {path} is not valid YAML: {_one_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} file {path} must hold a mapping, not {type(data).__name__}")
    return data


def preset_path(preset: str, search_dirs: Iterable[Path]) -> Path:
    """A preset name (``paper``) looked up in ``search_dirs``, or a path to a YAML file."""
    if "/" in preset or preset.endswith((".yaml", ".yml")):
        path = Path(preset)
        if not path.is_file():
            raise ConfigError(f"config key 'preset': file {preset} does not exist")
        return path
    dirs = list(search_dirs)
    for d in dirs:
        path = d / f"{preset}.yaml"
        if path.is_file():
            return path
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.yaml")})
    raise ConfigError(
        f"config key 'preset': no preset {preset!r} (known: {', '.join(known) or 'none'})"
    )


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def effective_config(
    user_config: Mapping[str, Any],
    root: str | os.PathLike[str],
    workdir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The validated config: ``user_config`` (what Snakemake loaded) over its preset.

    ``user_config`` comes from config/config.yaml, --configfile and --config; its keys
    win over the preset's. Presets are looked up in ``<workdir>/config/presets`` first
    (a deployment's own presets), then in the checkout ``root``.
    """
    root = Path(root)
    preset = user_config.get("preset")
    if not isinstance(preset, str) or not preset.strip():
        raise ConfigError("config key 'preset': missing (e.g. --config preset=smoke)")
    dirs = [Path(workdir or os.getcwd()) / PRESETS_RELPATH, root / PRESETS_RELPATH]
    preset_cfg = load_yaml(preset_path(preset.strip(), dirs), "preset")
    preset_cfg.pop("preset", None)
    merged = deep_merge(preset_cfg, user_config)
    # `--config 'studies={tp: null}'` drops a study the preset defines (e.g. TP 2 on a
    # one-GPU box); YAML's BaseLoader in --config gives the string "null".
    studies = merged.get("studies")
    if isinstance(studies, dict):
        merged["studies"] = {
            k: v for k, v in studies.items() if v is not None and str(v).lower() != "null"
        }
    schema = load_yaml(root / SCHEMA_RELPATH, "schema")
    cfg = validate_config(merged, schema)
    check_config(cfg)
    check_gpu_profile(cfg, root)
    return cfg


def check_gpu_profile(cfg: Mapping[str, Any], root: str | os.PathLike[str]) -> None:
    """``gpu`` names a profile of config/measure/gpu/ (e.g. h100-sxm, h200)."""
    name = cfg.get("gpu", "h100-sxm")
    folder = Path(root) / MEASURE_CONFIG_RELPATH / "gpu"
    if not (folder / f"{name}.yaml").is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"config key 'gpu': no profile {name!r} in {MEASURE_CONFIG_RELPATH}/gpu "
                          f"(known: {', '.join(known)})")


# --- schema validation with one-line errors ----------------------------------------


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return _resolve({**node, **{k: v for k, v in schema.items() if k != "$ref"}}, root)
    return schema


def _types(schema: Mapping[str, Any], root: Mapping[str, Any]) -> set[str]:
    schema = _resolve(schema, root)
    types = schema.get("type", [])
    out = {types} if isinstance(types, str) else set(types)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        out |= _types(branch, root)
    return out


_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)")


def coerce_to_schema(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """Turn strings into the numbers/booleans/nulls the schema expects.

    ``snakemake --config 'clocks={mhz: [800, 1980]}'`` parses nested values with YAML's
    BaseLoader, which keeps every scalar a string; without this, ``"800"`` would fail
    the integer check although the user wrote a number.
    """
    schema = _resolve(schema, root)
    types = _types(schema, root)
    if isinstance(value, Mapping):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for key, sub in value.items():
            sub_schema = props.get(key, extra if isinstance(extra, Mapping) else None)
            out[key] = coerce_to_schema(sub, sub_schema, root) if sub_schema else sub
        return out
    if isinstance(value, list):
        items = schema.get("items")
        return [coerce_to_schema(v, items, root) if items else v for v in value]
    if isinstance(value, str) and "string" not in types:
        text = value.strip()
        if "integer" in types and _INT_RE.fullmatch(text):
            return int(text)
        if "number" in types and _FLOAT_RE.fullmatch(text):
            return float(text)
        if "boolean" in types and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if "null" in types and text.lower() in ("null", "none", "~", ""):
            return None
    if isinstance(value, str) and "null" in types and value.strip().lower() in ("null", "~"):
        return None
    return value


def _key(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _error_line(err: Any, root_schema: Mapping[str, Any]) -> str:
    """One line for a jsonschema ValidationError, naming the config key."""
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = set(_resolve(err.schema, root_schema).get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            return (
                f"unknown config key '{_key([*path, extra[0]])}' "
                f"(allowed here: {', '.join(sorted(allowed))})"
            )
    if err.validator == "required":
        match = re.match(r"'([^']+)' is a required property", err.message)
        if match:
            return f"missing config key '{_key([*path, match.group(1)])}'"
    message = err.message if len(err.message) <= 200 else err.message[:197] + "..."
    return f"config key '{_key(path)}': {message}"


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A validated copy of ``config`` with the schema's defaults filled in.

    Like ``snakemake.utils.validate`` (JSON Schema 2020-12, defaults set), but a bad
    config raises a one-line ``ConfigError`` naming the key instead of Snakemake's
    multi-line dump of the schema.
    """
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import best_match

    def set_defaults(validator: Any, properties: Any, instance: Any, schema_: Any) -> Any:
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                sub = _resolve(sub, schema)
                if "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from Draft202012Validator.VALIDATORS["properties"](
            validator, properties, instance, schema_
        )

    with_defaults = validators.extend(Draft202012Validator, {"properties": set_defaults})
    data = coerce_to_schema(copy.deepcopy(dict(config)), schema, schema)
    err = best_match(with_defaults(schema).iter_errors(data))
    if err is not None:
        raise ConfigError(_error_line(err, schema))
    return data


def check_config(cfg: Mapping[str, Any]) -> None:
    """Checks a JSON schema cannot express; one-line ConfigError naming the key."""
    from greenllm.load.workloads import parse_workload

    clocks = cfg["clocks"]
    if clocks["mode"] == "pin" and not clocks.get("mhz"):
        raise ConfigError("config key 'clocks.mhz': pin mode needs at least one clock")
    model = cfg["model"]
    source = model.get("source", "builtin")
    if source == "builtin":
        from greenllm.load.shapes import SHAPES

        if model["name"] not in SHAPES:
            raise ConfigError(
                f"config key 'model.name': no built-in shape {model['name']!r} "
                f"(built in: {', '.join(SHAPES)}); use model.source hub or local"
            )
        if model.get("load_format") == "real":
            raise ConfigError(
                "config key 'model.load_format': a builtin model has no weights; "
                "use load_format dummy, or source hub/local for real weights"
            )
    if source == "hub" and not model.get("repo_id"):
        raise ConfigError("config key 'model.repo_id': source hub needs a repo id")
    if source == "local" and not model.get("path"):
        raise ConfigError("config key 'model.path': source local needs the model folder")
    if cfg.get("engine") == "virtual":
        from greenllm.sim.gpu_models import simulated_gpu

        try:
            simulated_gpu(str(cfg.get("gpu", "h100-sxm")))
        except ConfigError as err:
            raise ConfigError(f"config key 'gpu': {err}") from None
    studies = cfg["studies"]
    # With engine=virtual this is the number of simulated GPUs (TP above it: an error).
    gpus = cfg.get("gpus_available", 8)
    for name, spec in studies.items():
        for key in ("workloads", "workload"):
            ids = spec.get(key)
            for wid in [ids] if isinstance(ids, str) else ids or []:
                try:
                    parse_workload(wid)
                except ConfigError as err:
                    raise ConfigError(f"config key 'studies.{name}.{key}': {err}") from None
        tps = spec.get("tps", [spec.get("tp")])
        for tp in tps:
            if tp is not None and tp > gpus:
                key = "tps" if "tps" in spec else "tp"
                raise ConfigError(
                    f"config key 'studies.{name}.{key}': TP {tp} needs {tp} GPUs "
                    f"but gpus_available is {gpus}"
                )


# --- the plan -----------------------------------------------------------------------


def clock_label(mhz: int | None) -> str:
    """``f<MHz>`` for a pinned clock, ``native`` in observe mode (results format)."""
    return "native" if mhz is None else f"f{int(mhz)}"


def instance_id(model: str, tp: int, max_batch: int) -> str:
    return f"{model}_tp{tp}_b{max_batch}"


@dataclass(frozen=True)
class Cell:
    """One (clock, workload) measurement on one engine instance."""

    instance_id: str
    clock: str
    workload: str


@dataclass(frozen=True)
class Instance:
    """One engine (model, TP, max batch), started once for all of its cells."""

    model: str
    tp: int
    max_batch: int
    clocks: tuple[str, ...]
    workloads: tuple[str, ...]
    loads: tuple[str, ...]
    studies: tuple[str, ...]

    @property
    def id(self) -> str:
        return instance_id(self.model, self.tp, self.max_batch)

    @property
    def gpus(self) -> int:
        return self.tp

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(Cell(self.id, c, w) for c in self.clocks for w in self.workloads)


@dataclass(frozen=True)
class Study:
    """A group of figures and exactly the cells they need."""

    name: str
    spec: Mapping[str, Any]
    cells: tuple[Cell, ...]

    @property
    def figures(self) -> tuple[str, ...]:
        return tuple(stem for stem, study in FIGURES if study == self.name)

    @property
    def instance_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.instance_id for c in self.cells))


@dataclass(frozen=True)
class Plan:
    config: Mapping[str, Any]
    instances: tuple[Instance, ...]
    studies: tuple[Study, ...]
    _by_id: Mapping[str, Instance] = field(default_factory=dict, repr=False)

    # lookups
    def instance(self, iid: str) -> Instance:
        try:
            return self._by_id[iid]
        except KeyError:
            raise ConfigError(f"no engine instance {iid!r} in this plan") from None

    def study(self, name: str) -> Study:
        for study in self.studies:
            if study.name == name:
                return study
        raise ConfigError(
            f"no study {name!r} in this plan (planned: {', '.join(self.study_names)})"
        )

    @property
    def study_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.studies)

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(c for inst in self.instances for c in inst.cells)

    @property
    def figures(self) -> tuple[str, ...]:
        return tuple(stem for s in self.studies for stem in s.figures)

    def figure_study(self, stem: str) -> Study:
        if stem not in FIGURE_STUDY:
            raise ConfigError(f"unknown figure {stem!r}")
        return self.study(FIGURE_STUDY[stem])

    def figure_instances(self, stem: str) -> tuple[str, ...]:
        return self.figure_study(stem).instance_ids

    # paths (relative to the working directory, as Snakemake sees them)
    @property
    def results_dir(self) -> str:
        return str(self.config.get("results_dir", "results"))

    @property
    def reports_dir(self) -> str:
        return str(self.config.get("reports_dir", "reports"))

    @property
    def logs_dir(self) -> str:
        return str(self.config.get("logs_dir", "logs"))

    @property
    def model_name(self) -> str:
        return str(self.config["model"]["name"])

    def model_dir(self) -> str:
        """The folder ``greenllm measure`` serves (``model.path``)."""
        model = self.config["model"]
        if model.get("source") == "local":
            return str(model["path"])
        return f"{self.results_dir}/models/{model['name']}"

    def model_marker(self) -> str:
        return f"{self.results_dir}/models/{self.model_name}.ready.json"

    def raw_dir(self, iid: str) -> str:
        return f"{self.results_dir}/raw/{iid}"

    def run_marker(self, iid: str) -> str:
        return f"{self.results_dir}/runs/{iid}.done"

    def raw_summary(self, cell: Cell) -> str:
        return f"{self.raw_dir(cell.instance_id)}/cells/{cell.clock}/{cell.workload}/summary.json"

    def cell_json(self, cell: Cell) -> str:
        return f"{self.results_dir}/cells/{cell.instance_id}/{cell.clock}/{cell.workload}.json"

    def study_table(self, name: str) -> str:
        return f"{self.results_dir}/tables/{name}.parquet"

    def all_cells_table(self) -> str:
        return f"{self.results_dir}/tables/cells.parquet"

    def figure_file(self, stem: str, ext: str = "pdf") -> str:
        return f"{self.reports_dir}/figures/{stem}.{ext}"

    def claims_file(self) -> str:
        return f"{self.reports_dir}/claims.md"

    # what the analysis commands are told
    def study_dict(self, name: str) -> dict[str, Any]:
        """The study as ``greenllm figure --study`` gets it (the shared contract):
        the study's own keys plus the preset-wide clocks and model."""
        study = self.study(name)
        clocks = self.config["clocks"]
        return {
            "name": name,
            **copy.deepcopy(dict(study.spec)),
            "model": self.model_name,
            "clock_mode": clocks["mode"],
            "clocks": list(clocks.get("mhz", [])) if clocks["mode"] == "pin" else [],
            "clock_labels": list(_clock_labels(clocks)),
            "instances": list(study.instance_ids),
        }

    def studies_dict(self) -> dict[str, Any]:
        """All studies for ``greenllm claims --studies``, plus the shared clocks/model."""
        out: dict[str, Any] = {s.name: self.study_dict(s.name) for s in self.studies}
        clocks = self.config["clocks"]
        out["clocks"] = list(clocks.get("mhz", [])) if clocks["mode"] == "pin" else []
        out["model"] = self.model_name
        return out


def _clock_labels(clocks: Mapping[str, Any]) -> tuple[str, ...]:
    if clocks["mode"] == "observe":
        return (clock_label(None),)
    return tuple(clock_label(m) for m in clocks["mhz"])


def _study_needs(name: str, spec: Mapping[str, Any]) -> list[tuple[int, int, list[str], list[str]]]:
    """(tp, max_batch, workloads, loads) for each instance the study uses."""
    if name == "workload":
        return [(spec["tp"], spec["max_batch"], list(spec["workloads"]), [spec["load"]])]
    if name == "tp":
        return [(tp, spec["max_batch"], [spec["workload"]], [spec["load"]]) for tp in spec["tps"]]
    if name == "batch":
        loads = [spec["load"]] + ([spec["low_load"]] if spec.get("low_load") else [])
        return [(spec["tp"], b, [spec["workload"]], loads) for b in spec["max_batches"]]
    raise ConfigError(f"unknown study {name!r} (known: {', '.join(STUDY_NAMES)})")


def build_plan(cfg: Mapping[str, Any]) -> Plan:
    """The instances and cells a validated config (``effective_config``) asks for.

    An instance's workloads are the union of what its studies need; its load points are
    the preset's ``load.points`` plus any a study adds; its clocks are all of the preset's.
    """
    model = cfg["model"]["name"]
    clocks = _clock_labels(cfg["clocks"])
    base_loads = list(cfg["load"]["points"])
    acc: dict[tuple[int, int], dict[str, list[str]]] = {}
    studies: list[Study] = []
    for name in STUDY_NAMES:  # fixed order: instance order is stable whatever the YAML order
        spec = cfg["studies"].get(name)
        if spec is None:
            continue
        study_cells: list[Cell] = []
        for tp, batch, workloads, loads in _study_needs(name, spec):
            slot = acc.setdefault((tp, batch), {"workloads": [], "loads": list(base_loads),
                                                "studies": []})
            for key, values in (("workloads", workloads), ("loads", loads), ("studies", [name])):
                slot[key].extend(v for v in values if v not in slot[key])
            iid = instance_id(model, tp, batch)
            study_cells.extend(Cell(iid, c, w) for c in clocks for w in workloads)
        studies.append(Study(name, copy.deepcopy(dict(spec)), tuple(study_cells)))
    instances = tuple(
        Instance(model, tp, batch, clocks, tuple(s["workloads"]), tuple(s["loads"]),
                 tuple(s["studies"]))
        for (tp, batch), s in acc.items()
    )
    return Plan(cfg, instances, tuple(studies), {i.id: i for i in instances})


def plan_from_config(
    user_config: Mapping[str, Any],
    root: str | os.PathLike[str],
    workdir: str | os.PathLike[str] | None = None,
) -> Plan:
    return build_plan(effective_config(user_config, root, workdir))


# --- greenllm measure's command line -----------------------------------------------

_PLAIN_RE = re.compile(r"[A-Za-z_/.][A-Za-z0-9_/.:+-]*")


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar (lists ``[a,b]``, dicts ``{k:v}``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN_RE.fullmatch(text) and text.lower() not in ("true", "false", "null"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _group_overrides(group: str, settings: Mapping[str, Any], skip: Iterable[str]) -> list[str]:
    """``group=<profile>`` then ``group.<key>=<value>`` for the preset's other keys."""
    out = []
    if settings.get("profile"):
        out.append(f"{group}={hydra_value(settings['profile'])}")
    skip = set(skip) | {"profile"}
    out += [f"{group}.{k}={hydra_value(v)}" for k, v in settings.items() if k not in skip]
    return out


def measure_overrides(plan: Plan, iid: str, cells: Iterable[Cell] | None = None) -> list[str]:
    """The Hydra overrides of ``greenllm measure`` for instance ``iid``, one per item
    (quote each for a shell). The measure command runs all of the instance's cells, or
    with ``cells`` the grid of their clocks and workloads (load points stay the
    instance's: a cell measured for one study serves the others too)."""
    cfg = plan.config
    inst = plan.instance(iid)
    mine = [c for c in cells or () if c.instance_id == iid]
    if mine:
        inst = dataclasses.replace(
            inst, clocks=tuple(k for k in inst.clocks if any(c.clock == k for c in mine)),
            workloads=tuple(w for w in inst.workloads if any(c.workload == w for c in mine)))
    model = cfg["model"]
    out = [
        f"out_dir={hydra_value(plan.raw_dir(iid))}",
        f"model={hydra_value(model['name'])}",
        f"model.path={hydra_value(plan.model_dir())}",
        f"model.load_format={model.get('load_format', 'dummy')}",
    ]
    if model.get("repo_id"):
        out.append(f"model.hf_repo={hydra_value(model['repo_id'])}")
    out += [
        f"engine={cfg['engine']}",
        f"gpu={hydra_value(cfg.get('gpu', 'h100-sxm'))}",
        f"clocks={cfg['clocks']['mode']}",
    ]
    if cfg["clocks"]["mode"] == "pin":
        mhz = [m for m in cfg["clocks"]["mhz"] if clock_label(m) in inst.clocks]
        out.append(f"clocks.mhz={hydra_value(mhz)}")
    out.append(f"workload.ids={hydra_value(list(inst.workloads))}")
    out += _group_overrides("load", cfg["load"], skip=("points",))
    out.append(f"load.points={hydra_value(list(inst.loads))}")
    out += _group_overrides("slo", cfg.get("slo", {}), skip=())
    out += _group_overrides("search", cfg.get("search", {}), skip=())
    out += [f"instance.tp={inst.tp}", f"instance.max_batch={inst.max_batch}"]
    out += list(cfg.get("measure_overrides", []))
    return out


# --- cost estimate -------------------------------------------------------------------

# Used when neither the preset nor config/measure/<group>/<profile>.yaml sets a key
# (the measure schema's own defaults, src/greenllm/measure/config.py).
ESTIMATE_FALLBACKS: dict[str, dict[str, float]] = {
    "search": {"max_probes": 8, "probe_max_duration_s": 60.0, "time_budget_s": 900.0},
    "load": {"max_duration_s": 120.0, "warmup_requests": 8, "repeats": 1},
    "slo": {"baseline_requests": 5},
}
# H100 SXM, bf16: effective HBM bandwidth (~60% of 3.35 TB/s) bounds a decode step,
# effective tensor throughput (~40% of 989 TFLOP/s) a prefill; 1 ms step overhead.
_HBM_BYTES_PER_S = 2.0e12
_FLOPS_PER_S = 4.0e14
_STEP_OVERHEAD_S = 1.0e-3
_CLOCK_SETTLE_S = 5.0
_ENGINE_START_BASE_S = 90.0
_ENGINE_START_PER_BPARAM_S = 1.5
ESTIMATE_FORMULA = (
    "GPU-h = sum over instances of TP x (start + baselines + cells) / 3600 (an upper bound: "
    "every probe and load point at its max duration); "
    f"start = {_ENGINE_START_BASE_S:.0f} s + {_ENGINE_START_PER_BPARAM_S} s per 1e9 params; "
    "baselines = workloads x slo.baseline_requests x request; "
    "cell = clock settle 5 s + min(search.max_probes x (probe_max_duration_s + request), "
    "search.time_budget_s) + load points x load.repeats x (load.max_duration_s + (1 + warmup_requests) x "
    "request); request = prefill + output_tokens x TBT, prefill = 2 x params x input_tokens "
    "/ (TP x 4e14 FLOP/s), TBT = 1 ms + 2 bytes x params / (TP x 2e12 B/s)"
)


def model_params(shape: Mapping[str, Any]) -> float:
    """Parameter count of a Llama shape (attention with GQA, SwiGLU MLP, untied embeddings)."""
    h = shape["hidden_size"]
    kv_frac = shape["num_key_value_heads"] / shape["num_attention_heads"]
    per_layer = 2 * h * h + 2 * h * h * kv_frac + 3 * h * shape["intermediate_size"]
    return shape["num_hidden_layers"] * per_layer + 2 * shape["vocab_size"] * h


def load_measure_groups(root: str | os.PathLike[str], cfg: Mapping[str, Any]) -> dict[str, dict]:
    """The Hydra group files the preset selects (``config/measure/<group>/<profile>.yaml``),
    merged under the preset's own keys: what a measure run will use, for the estimate."""
    out: dict[str, dict] = {}
    for group in ("search", "load", "slo"):
        settings = dict(cfg.get(group, {}))
        path = Path(root) / MEASURE_CONFIG_RELPATH / group / f"{settings.get('profile', '')}.yaml"
        base = load_yaml(path, "measure group") if path.is_file() else {}
        out[group] = {**ESTIMATE_FALLBACKS.get(group, {}), **base, **settings}
    return out


@dataclass(frozen=True)
class InstanceEstimate:
    instance_id: str
    gpus: int
    start_s: float
    baselines_s: float
    cells_s: float

    @property
    def total_s(self) -> float:
        return self.start_s + self.baselines_s + self.cells_s

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.total_s / 3600.0


def estimate_instance(
    inst: Instance, shape: Mapping[str, Any], groups: Mapping[str, Mapping[str, Any]]
) -> InstanceEstimate:
    """Upper-bound seconds for one instance (see ``ESTIMATE_FORMULA``)."""
    from greenllm.load.workloads import parse_workload

    params = model_params(shape)
    tbt_s = _STEP_OVERHEAD_S + 2.0 * params / (inst.tp * _HBM_BYTES_PER_S)
    search, load, slo = groups["search"], groups["load"], groups["slo"]

    def request_s(wid: str) -> float:
        w = parse_workload(wid)
        prefill_s = 2.0 * params * w.input_tokens / (inst.tp * _FLOPS_PER_S)
        return prefill_s + w.output_tokens * tbt_s

    def cell_s(wid: str) -> float:
        req = request_s(wid)
        search_s = search["max_probes"] * (search["probe_max_duration_s"] + req)
        if search.get("time_budget_s"):
            search_s = min(search_s, float(search["time_budget_s"]))
        per_point = load["max_duration_s"] + (1 + load.get("warmup_requests", 0)) * req
        return _CLOCK_SETTLE_S + search_s + len(inst.loads) * int(load.get("repeats", 1)) * per_point

    start_s = _ENGINE_START_BASE_S + _ENGINE_START_PER_BPARAM_S * params / 1e9
    baselines_s = sum(slo["baseline_requests"] * request_s(w) for w in inst.workloads)
    cells_s = sum(cell_s(c.workload) for c in inst.cells)
    return InstanceEstimate(inst.id, inst.gpus, start_s, baselines_s, cells_s)


def estimate(plan: Plan, root: str | os.PathLike[str]) -> list[InstanceEstimate] | None:
    """Per-instance estimates, or None when the model's shape is unknown."""
    from greenllm.load.shapes import SHAPES

    shape = SHAPES.get(plan.model_name)
    if shape is None:
        return None
    groups = load_measure_groups(root, plan.config)
    return [estimate_instance(inst, shape, groups) for inst in plan.instances]


def runtime_minutes(est: InstanceEstimate) -> int:
    """A wall-clock limit for a measure job (Slurm ``runtime``): the bound plus 25 %."""
    return math.ceil(est.total_s * 1.25 / 60.0) + 10


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
