"""Where greenllm's configuration lives: the repository's ``config/`` (or
``$GREENLLM_CONFIG_DIR`` for the measurement config), found without importing Hydra."""

from __future__ import annotations

import os
from pathlib import Path

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def measure_config_path() -> Path:
    """``$GREENLLM_CONFIG_DIR`` or the repository's ``config/measure`` (unchecked)."""
    return Path(os.environ.get("GREENLLM_CONFIG_DIR", REPO_CONFIG / "measure"))
