"""The synthetic-cell generator (tests/fixtures/cells) and the noisy repeats built on it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "fixtures" / "cells"))
sys.path.insert(0, str(HERE))

import noisy_cells  # noqa: E402
import synth_cells  # noqa: E402


@pytest.fixture
def synth():
    return synth_cells


@pytest.fixture
def noisy():
    return noisy_cells
