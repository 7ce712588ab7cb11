"""The three studies of the paper (§IV-A workload, §IV-B TP, §IV-C batch) as typed values.

A study comes from the Snakemake config as a dict, e.g.
``{"tps": [2, 4, 8], "max_batch": 64, "workload": "M-M", "load": "medium"}``, plus the
preset-wide ``clocks`` and ``model``. Every study becomes the same shape: the instances
(``tps`` × ``max_batches``), the workloads, the load point(s) and the clocks it covers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError

STUDY_NAMES = ("workload", "tp", "batch")

# Keys each study must have (beyond the shared clocks/model).
_REQUIRED = {
    "workload": ("tp", "max_batch", "workloads", "load"),
    "tp": ("tps", "max_batch", "workload", "load"),
    "batch": ("tp", "max_batches", "workload", "load"),
}


@dataclass(frozen=True)
class Study:
    name: str  # workload | tp | batch
    tps: tuple[int, ...]
    max_batches: tuple[int, ...]
    workloads: tuple[str, ...]
    load: str  # the load point the study's figures use (e.g. "medium")
    low_load: str | None = None  # batch study: the low-load case of Figs 11 and 15
    clocks_mhz: tuple[int, ...] | None = None  # None: whatever the table holds
    model: str | None = None  # None: the table must hold one model only

    @property
    def max_clock_mhz(self) -> int | None:
        return max(self.clocks_mhz) if self.clocks_mhz else None


def parse_study(
    name: str, raw: Mapping[str, Any], shared: Mapping[str, Any] | None = None
) -> Study:
    """Build a ``Study`` from its config dict; ``shared`` supplies clocks/model if absent."""
    if name not in STUDY_NAMES:
        raise ConfigError(f"unknown study {name!r} (expected one of {', '.join(STUDY_NAMES)})")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"study {name!r} must be a mapping, got {type(raw).__name__}")
    merged = {**(shared or {}), **raw}
    lacking = [k for k in _REQUIRED[name] if merged.get(k) in (None, "", [])]
    if lacking:
        raise ConfigError(f"study {name!r} lacks {', '.join(lacking)}")
    tps = _ints(name, "tps", merged["tps"]) if "tps" in _REQUIRED[name] else (
        _int(name, "tp", merged["tp"]),)
    batches = _ints(name, "max_batches", merged["max_batches"]) if name == "batch" else (
        _int(name, "max_batch", merged["max_batch"]),)
    workloads = (
        tuple(str(w) for w in _list(name, "workloads", merged["workloads"]))
        if name == "workload" else (str(merged["workload"]),)
    )
    clocks = merged.get("clocks")
    if isinstance(clocks, Mapping):  # hydra-style {"mhz": [...]} also accepted
        clocks = clocks.get("mhz")
    return Study(
        name=name,
        tps=tps,
        max_batches=batches,
        workloads=workloads,
        load=str(merged["load"]),
        low_load=str(merged["low_load"]) if merged.get("low_load") else None,
        clocks_mhz=_clocks(name, clocks),
        model=_model(merged.get("model")),
    )


def _model(value: Any) -> str | None:
    """The model name cells carry (``instance.model``); a config group dict gives its name."""
    if isinstance(value, Mapping):
        value = value.get("name") or value.get("id")
    return str(value) if value else None


def parse_studies(raw: Mapping[str, Any]) -> dict[str, Study]:
    """All studies present in ``raw`` (keys workload/tp/batch; shared clocks/model on top)."""
    if not isinstance(raw, Mapping):
        raise ConfigError("studies must be a JSON object with keys workload, tp, batch")
    shared = {k: raw[k] for k in ("clocks", "model") if k in raw}
    studies = {n: parse_study(n, raw[n], shared) for n in STUDY_NAMES if raw.get(n) is not None}
    if not studies:
        raise ConfigError("studies names none of workload, tp, batch")
    return studies


def study_for(name: str, raw: Mapping[str, Any]) -> Study:
    """The study ``name`` from either its own dict or a dict of all studies."""
    if isinstance(raw, Mapping) and isinstance(raw.get(name), Mapping):
        shared = {k: raw[k] for k in ("clocks", "model") if k in raw}
        return parse_study(name, raw[name], shared)
    return parse_study(name, raw)


def read_json_arg(text: str, what: str) -> Any:
    """A JSON command-line argument, inline or ``@file``."""
    try:
        if text.startswith("@"):
            return json.loads(Path(text[1:]).read_text())
        return json.loads(text)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {text[1:]}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from exc


def _clocks(study: str, value: Any) -> tuple[int, ...] | None:
    """Pinned clocks in MHz; labels ``f1400`` are read as 1400, ``native`` (observe) ignored."""
    if not value:
        return None
    out = []
    for v in _list(study, "clocks", value):
        if isinstance(v, str):
            if v.strip().lower() in ("native", "observe"):
                continue
            v = v.strip().lstrip("fF")
        out.append(_int(study, "clocks", v))
    return tuple(out) or None


def _list(study: str, key: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"study {study!r}: {key} must be a list, got {value!r}")
    return list(value)


def _ints(study: str, key: str, value: Any) -> tuple[int, ...]:
    return tuple(_int(study, key, v) for v in _list(study, key, value))


def _int(study: str, key: str, value: Any) -> int:
    try:
        if isinstance(value, bool) or int(value) != float(value):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"study {study!r}: {key} must be an integer, got {value!r}") from None
