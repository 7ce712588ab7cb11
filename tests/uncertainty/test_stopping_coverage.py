"""benchmarks/stopping_coverage.py: what stopping each load point on its own costs the
reported intervals. Points that stop after 3-4 repeats have few values that happened to
agree: the bootstrap interval alone (about their range) under-covers; the statistics
table's interval, widened there by a t interval, and the one the stop was judged on do
not."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from stopping_coverage import coverage  # noqa: E402


def test_per_point_stops_earlier_and_its_table_intervals_still_cover():
    rng = np.random.default_rng(5)
    alone_point, table_point, judged_point, n_point = coverage("point", 0.03, 0.05, 400, rng)
    alone_cell, table_cell, judged_cell, n_cell = coverage("cell", 0.03, 0.05, 400, rng)
    assert n_point < n_cell - 0.4  # quiet points sit out the cell's later repeats
    # the bootstrap alone at 3-4 repeats is about the range: well below 95 %
    assert alone_point < alone_cell - 0.05 and alone_point < 0.88
    # widened, the table's interval covers like the judged one, under either rule
    assert table_point > 0.90 and table_cell > 0.90
    assert judged_point > 0.90 and judged_cell > 0.90
    assert table_point > alone_point + 0.08


def test_a_fixed_five_covers_as_the_uncertainty_doc_says():
    # a cap equal to the minimum leaves no choice: every point gets 5 repeats and the
    # table's interval is their range, 1 - 2 * 0.5**5 = 93.75 % (docs/uncertainty.md)
    rng = np.random.default_rng(6)
    alone, table, _, n = coverage("cell", 0.10, 1e-6, 600, rng)
    assert n == 5 and abs(table - 0.9375) < 0.03 and alone == table
