"""Normalisation: to the figure's max, to a named reference config, total energy."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from greenllm.analysis.normalize import (
    TOTAL_ENERGY_REQUESTS,
    describe_reference,
    normalize_to_max,
    normalize_to_reference,
    reference_value,
    total_energy_j,
)


@pytest.fixture
def rows() -> pd.DataFrame:
    return pd.DataFrame({
        "tp": [2, 2, 8, 8],
        "clock_mhz": [800.0, 1980.0, 800.0, 1980.0],
        "load_point": ["low", "low", "medium", "medium"],
        "power_max_w": [300.0, 400.0, 1200.0, 1600.0],
        "energy_per_request_j": [5.0, 6.0, 10.0, 12.0],
    })


def test_normalize_to_max_over_all_and_within_groups(rows):
    assert list(normalize_to_max(rows, "power_max_w")) == [0.1875, 0.25, 0.75, 1.0]
    within = normalize_to_max(rows, "power_max_w", within=["tp"])
    assert list(within) == [0.75, 1.0, 0.75, 1.0]


def test_normalize_to_named_reference_tp8_at_max_clock(rows):
    scaled = normalize_to_reference(rows, "power_max_w", {"tp": 8, "clock_mhz": "max"})
    assert list(scaled) == [300 / 1600, 400 / 1600, 1200 / 1600, 1.0]
    assert reference_value(rows, "power_max_w", {"tp": "min", "clock_mhz": "min"}) == 300.0
    assert describe_reference({"tp": "max", "clock_mhz": "max"}, rows) == "TP8 @ 1980 MHz"


def test_reference_per_group_and_missing_reference_gives_nan(rows):
    per_load = normalize_to_reference(rows, "energy_per_request_j", {"clock_mhz": 1980.0},
                                      within=["load_point"])
    assert list(per_load) == pytest.approx([5 / 6, 1.0, 10 / 12, 1.0])
    unmeasured = rows.assign(power_max_w=[300.0, 400.0, 1200.0, float("nan")])
    scaled = normalize_to_reference(unmeasured, "power_max_w", {"tp": 8, "clock_mhz": 1980.0})
    assert all(math.isnan(v) for v in scaled)


def test_total_energy_is_energy_for_the_same_request_count(rows):
    total = total_energy_j(rows)
    assert list(total) == [e * TOTAL_ENERGY_REQUESTS for e in rows["energy_per_request_j"]]
    # The fixed count cancels in any normalised comparison.
    a = total / total.max()
    b = rows["energy_per_request_j"] / rows["energy_per_request_j"].max()
    pd.testing.assert_series_equal(a, b, check_names=False)
