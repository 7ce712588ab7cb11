"""Typed settings of one measurement run: the app layer converts Hydra's config once.

Below ``greenllm.measure.run.run`` nothing sees a ``DictConfig``: cells, points, the
SLO baseline and the engine kinds get a ``MeasureCfg`` (plain dataclasses of
``greenllm.measure.config``), whose fields are typed and whose values are resolved.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from greenllm.errors import ConfigError
from greenllm.measure.config import MeasureCfg


def to_settings(cfg: DictConfig | MeasureCfg) -> MeasureCfg:
    """The resolved config as ``MeasureCfg`` dataclasses (unchanged if it already is)."""
    if isinstance(cfg, MeasureCfg):
        return cfg
    from omegaconf.errors import OmegaConfBaseException

    try:
        merged = OmegaConf.merge(OmegaConf.structured(MeasureCfg), cfg)
        settings: Any = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"bad measurement config: {' '.join(str(exc).split())[:300]}") from None
    return settings
