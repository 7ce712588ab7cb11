"""Shared fixtures: a paper-shaped grid of synthetic cell summaries and its table."""

from __future__ import annotations

import sys
from pathlib import Path

# Defined once in tests/fixtures/grid_fixtures.py for tests/analysis and tests/figures.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))

from grid_fixtures import grid_dir, grid_table, studies, synth  # noqa: F401 - used by name
