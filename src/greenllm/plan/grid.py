"""The plan: engine instances, their (clock, workload) cells, and the studies using them."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from greenllm.errors import ConfigError
from greenllm.plan.config_files import effective_config
from greenllm.plan.figures import FIGURE_STUDY, FIGURES, STUDY_NAMES
from greenllm.sweep_axes import labels as sweep_labels


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
    # SM clocks, power limits and memory clocks: the same labels measure gives its cells
    return sweep_labels(clocks)


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
