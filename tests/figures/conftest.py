"""Shared fixtures: a paper-shaped grid of synthetic cell summaries and its table."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The generator lives with the fixtures it writes (tests/fixtures/cells/).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "cells"))

import synth_cells

from greenllm.analysis.aggregate import read_cells
from greenllm.analysis.studies import parse_studies


@pytest.fixture(scope="session")
def grid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grid")
    synth_cells.write_grid(root)
    return root


@pytest.fixture(scope="session")
def grid_table(grid_dir: Path):
    return read_cells([grid_dir]).table


@pytest.fixture(scope="session")
def studies():
    return parse_studies(synth_cells.STUDIES)


@pytest.fixture
def synth():
    return synth_cells
