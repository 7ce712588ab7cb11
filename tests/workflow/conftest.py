from __future__ import annotations

from pathlib import Path

import pytest
from smk_run import workdir_for


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """A fresh Snakemake working directory whose config/ links to the repository's."""
    return workdir_for(tmp_path / "wd")
