"""Compose the measurement config from ``config/measure`` and command-line overrides.

Hydra's compose API is used instead of ``@hydra.main`` so that nothing changes the
working directory or writes ``outputs/``: the output location is the ``out_dir`` key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from greenllm.config_paths import measure_config_path
from greenllm.errors import ConfigError
from greenllm.measure.config import register_schema


def config_dir() -> Path:
    """``$GREENLLM_CONFIG_DIR`` or the repository's ``config/measure``."""
    path = measure_config_path()
    if not (path / "measure.yaml").is_file():
        raise ConfigError(
            f"no measure.yaml in {path}: run from a greenllm checkout or set GREENLLM_CONFIG_DIR"
        )
    return path


def compose(overrides: Sequence[str], config_path: Path | None = None) -> DictConfig:
    """The resolved config; any Hydra/OmegaConf error becomes a one-line ConfigError."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_schema()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(config_path or config_dir()), version_base="1.3"):
            cfg = hydra_compose("measure", overrides=list(overrides))
        OmegaConf.resolve(cfg)
        missing = sorted(OmegaConf.missing_keys(cfg))
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"bad measurement config: {_one_line(exc)}") from None
    finally:
        GlobalHydra.instance().clear()
    if missing:
        raise ConfigError(f"missing required config value(s): {', '.join(missing)}")
    return cfg


def compose_instance(plan: Any, instance_id: str, root: str | os.PathLike[str]) -> DictConfig:
    """A workflow plan's instance's measure config, composed as its job composes it
    (the plan's overrides over ``<root>/config/measure``)."""
    from greenllm import plan as gplan

    path = Path(root) / "config" / "measure"
    return compose(gplan.measure_overrides(plan, instance_id), path if path.is_dir() else None)


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def config_hash(cfg: DictConfig) -> str:
    """Stable hash of the resolved config (recorded with every result)."""
    blob = json.dumps(to_plain(cfg), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if exc.__cause__ is not None:  # Hydra wraps the informative OmegaConf error
        text = f"{text}: {' '.join(str(exc.__cause__).split())}"
    text = text.split(" Config search path:")[0]
    # OmegaConf appends "full_key: ... object_type=..." noise; keep the readable head.
    for marker in ("    full_key:", " full_key:"):
        if marker in text:
            head, _, rest = text.partition(marker)
            key = rest.split()[0] if rest.split() else ""
            text = f"{head.strip()} (key: {key})" if key else head.strip()
    return text[:400]
