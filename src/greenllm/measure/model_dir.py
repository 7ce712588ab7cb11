"""The model folder the engine serves: config.json + tokenizer (+ weights if real)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

from greenllm.errors import ConfigError
from greenllm.load.model_folder import build_model_folder
from greenllm.measure.config import MeasureCfg
from greenllm.ownership import check_model_folder_replaceable


def default_model_dir(name: str) -> Path:
    return Path("results") / "models" / name


def prepare_model_dir(cfg: MeasureCfg) -> Path:
    """The configured folder; for dummy weights, built from the shape if it is absent.

    Dummy-weight runs need only the model's shape and a tokenizer whose tokens are
    known, so greenllm can build the folder itself (no hub, no licence click-through),
    but only where nothing of the user's would be replaced (``greenllm.ownership``).
    Real weights must be downloaded first (``greenllm download`` / the DAG's download
    rule), so a missing folder is an error then.
    """
    path = Path(cfg.model.path) if cfg.model.path else default_model_dir(cfg.model.name)
    if (path / "config.json").is_file():
        return path.resolve()
    if cfg.model.load_format == "real":
        raise ConfigError(
            f"model folder {path} has no config.json: download it first "
            f"(snakemake results/models/{cfg.model.name}, or set model.path=...)"
        )
    # Never over a user's folder: only an absent, empty or greenllm-built one is (re)built.
    check_model_folder_replaceable(path, "model.path" if cfg.model.path else "model folder")
    print(f"greenllm: building dummy-weight model folder {path} from the {cfg.model.name} shape",
          file=sys.stderr)
    shape = asdict(cfg.model.shape)
    build_model_folder(path, shape, cfg.model.name)
    return path.resolve()
