"""benchmarks/clock_pooling.py: intervals from a fit across clocks, and their holdout check.

Synthetic series with a known truth: where the fitted form is the true one, the holdout
check covers about 95 % and the pooled interval is narrower than a point's own; where
the form is wrong, the same check shows it (coverage falls) however narrow it reads."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from clock_pooling import design, fit, main, pooled, unpooled  # noqa: E402

CLOCKS = (800, 1000, 1200, 1400, 1600, 1800, 1980)


def _table(truth, noise=0.05, series=200, repeats=5, seed=0) -> pd.DataFrame:
    """``series`` workloads x 7 clocks x ``repeats``, one load point, log-normal noise
    around ``truth(clock_mhz)``."""
    rng = np.random.default_rng(seed)
    rows = [{"instance_id": "i", "workload_id": f"w{s}", "load_point": "low",
             "clock_mhz": c, "rate_rps": 2.0, "repeat": r,
             "ttft_p50_s": truth(c) * np.exp(rng.normal(0, noise))}
            for s in range(series) for c in CLOCKS for r in range(repeats)]
    return pd.DataFrame(rows)


def test_design_and_fit_recover_a_known_line():
    clocks = np.array(CLOCKS, dtype=float)
    x = design(clocks, np.full(7, 3.0), "x")
    assert x.shape == (7, 2) and np.allclose(x[:, 1], 1000 / clocks)
    beta, s2, df, _ = fit(0.5 + 2.0 * x[:, 1], x)
    assert np.allclose(beta, [0.5, 2.0]) and s2 == pytest.approx(0) and df == 5
    with pytest.raises(ValueError, match="unknown terms"):
        design(clocks, clocks, "x z")
    with pytest.raises(ValueError, match="observations"):
        fit(np.zeros(2), design(clocks[:2], clocks[:2], "x x2"))


def test_a_right_form_covers_and_is_narrower_than_the_points_own_repeats():
    table = _table(lambda c: 0.02 + 30.0 / c)  # 1/f latency: linear in x = 1000 / f
    fitted = pooled(table, "ttft_p50_s", 2, "clock", "x")
    own = unpooled(table, "ttft_p50_s", 2)
    assert len(fitted) == len(own) == 200 * 7
    assert fitted["covered"].mean() == pytest.approx(0.95, abs=0.025)
    assert own["covered"].mean() == pytest.approx(0.95, abs=0.025)
    assert fitted["half_width"].median() < own["half_width"].median() / 3


def test_a_wrong_form_shows_as_lost_coverage():
    # a knee the straight line in 1/f cannot follow: 40 % up below 1200 MHz
    table = _table(lambda c: (0.02 + 30.0 / c) * (1.4 if c < 1200 else 1.0))
    # the misfit inflates the residual variance too, so coverage falls to ~88 %, not to 0
    assert pooled(table, "ttft_p50_s", 2, "clock", "x")["covered"].mean() < 0.91


def test_cli_rejects_ks_that_leave_no_holdout():
    with pytest.raises(SystemExit):
        main(["--ks", "5"])
