"""benchmarks/stopping_coverage.py: what stopping each load point on its own costs the
reported intervals. Points that stop after 3-4 repeats print the statistics table's
interval, which covers less than at 5; the interval the stop was judged on does not."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from stopping_coverage import coverage  # noqa: E402


def test_per_point_stops_earlier_and_its_table_intervals_cover_less():
    rng = np.random.default_rng(5)
    table_point, judged_point, n_point = coverage("point", 0.03, 0.05, 400, rng)
    table_cell, judged_cell, n_cell = coverage("cell", 0.03, 0.05, 400, rng)
    assert n_point < n_cell - 0.4  # quiet points sit out the cell's later repeats
    # the table's interval at 3-4 repeats is about the range: well below 95 %
    assert table_point < table_cell - 0.05 and table_point < 0.88
    # the t interval decide judged on keeps its coverage under either rule
    assert judged_point > 0.90 and judged_cell > 0.90


def test_a_fixed_five_covers_as_the_uncertainty_doc_says():
    # a cap equal to the minimum leaves no choice: every point gets 5 repeats and the
    # table's interval is their range, 1 - 2 * 0.5**5 = 93.75 % (docs/uncertainty.md)
    rng = np.random.default_rng(6)
    table, _, n = coverage("cell", 0.10, 1e-6, 600, rng)
    assert n == 5 and abs(table - 0.9375) < 0.03
