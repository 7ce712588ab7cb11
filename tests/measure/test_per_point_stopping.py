"""benchmarks/per_point_stopping.py's stopping rule: a point stops at the first repeat
count (>= 3) at which every target is met, by the adaptive policy's own ``decide``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from per_point_stopping import stop_after  # noqa: E402

from greenllm.measure.adaptive import RepeatPolicy  # noqa: E402

TARGETS = {"ttft_p50_s": 0.05, "energy_per_output_token_j": 0.02}
POLICY = RepeatPolicy(targets=TARGETS, max_repeats=5)


def _point(values: dict[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    return {("low", metric): v for metric, v in values.items()}


def test_quiet_points_stop_at_three_noisy_ones_at_the_cap():
    quiet = {"ttft_p50_s": np.array([1.0, 1.001, 0.999, 1.0, 1.0]),
             "energy_per_output_token_j": np.array([2.0, 2.001, 1.999, 2.0, 2.0])}
    assert stop_after(_point(quiet), POLICY) == 3
    noisy = {**quiet, "energy_per_output_token_j": np.array([2.0, 2.4, 1.7, 2.2, 1.9])}
    assert stop_after(_point(noisy), POLICY) == 5  # one metric off target keeps the point going


def test_three_values_that_agree_by_chance_do_not_stop_a_noisy_point():
    # the first three agree, the spread shows at the fourth: the t interval at n = 3
    # (t = 4.3) is what keeps a point from stopping on a lucky start
    lucky = {"ttft_p50_s": np.array([1.0, 1.03, 0.97, 1.3, 0.7]),
             "energy_per_output_token_j": np.array([2.0, 2.0, 2.0, 2.0, 2.0])}
    assert stop_after(_point(lucky), POLICY) == 5


def test_short_windows_scale_every_bound_and_keep_the_gpu_time():
    from per_point_stopping import short_repeats, shortened

    load = {"requests_per_point": 200, "min_duration_s": 20, "max_duration_s": 180, "points": ["low"]}
    short = shortened(load, 0.25)
    assert (short["requests_per_point"], short["min_duration_s"], short["max_duration_s"]) == (50, 5.0, 45.0)
    assert short["points"] == ["low"] and load["requests_per_point"] == 200  # a copy
    assert short_repeats(0.25) == 20 and short_repeats(0.5) == 10 and short_repeats(1.0) == 5
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="window-fraction"):
            shortened(load, bad)
