"""Locating the checkout and loading the workflow config: preset < Snakemake config."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError
from greenllm.plan.schema import check_config, validate_config

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
    candidates = [here, *here.parents, Path(__file__).resolve().parents[3]]
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
