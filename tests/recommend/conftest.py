"""Fixtures of the planner tests (tables from ``synthetic_cells``)."""

from __future__ import annotations

import pytest
from synthetic_cells import grid


@pytest.fixture
def table_path(tmp_path):
    path = tmp_path / "cells.parquet"
    grid().to_parquet(path)
    return path
