"""Alternating-phase overhead: a slowdown during the on phases is found, none is not."""

from __future__ import annotations

import numpy as np
import pytest

from greenllm.analysis.phase_overhead import Phase, counted_rates, phase_rates, steady_window
from greenllm.errors import GreenllmError


def stream(slowdown: float, *, phase_s: float = 0.5, n_phases: int = 40, rate: float = 2000.0,
           seed: int = 0, drift_per_s: float = 0.0) -> tuple[np.ndarray, list[Phase]]:
    """Poisson token arrivals at ``rate``/s, ``slowdown`` slower in on phases (odd ones);
    the base rate changes by ``drift_per_s`` (a fraction) per second."""
    rng = np.random.default_rng(seed)
    times, phases = [], []
    for k in range(n_phases):
        t0, on = k * phase_s, bool(k % 2)
        base = rate * (1.0 + drift_per_s * (t0 + phase_s / 2))
        r = base * (1.0 - slowdown) if on else base
        times.append(np.sort(rng.uniform(t0, t0 + phase_s, rng.poisson(r * phase_s))))
        phases.append(Phase(t0, t0 + phase_s, on))
    return np.concatenate(times), phases


def test_a_slowdown_in_the_on_phases_is_measured():
    times, phases = stream(0.05, rate=8000.0)
    res = phase_rates(times, phases, (0.0, 20.0))
    assert res.n_pairs == 19  # on phases 1..37 (39 has no off phase after it)
    assert res.overhead == pytest.approx(0.05, abs=0.015)
    assert res.ratio_ci[1] < 1.0  # the interval excludes "no effect"
    assert res.rate_on_tok_s < res.rate_off_tok_s


def test_no_slowdown_reads_as_none():
    times, phases = stream(0.0, seed=3)
    res = phase_rates(times, phases, (0.0, 20.0))
    assert abs(res.overhead) < 0.015 and res.ratio_ci[0] <= 1.0 <= res.ratio_ci[1]


def test_only_phases_inside_the_window_count():
    times, phases = stream(0.0)
    # A burst of tokens in phase 0 (ramp-up) would bias the first pair; it is outside.
    times = np.concatenate([times, np.full(5000, 0.25)])
    res = phase_rates(times, phases, (0.5, 20.0))  # phase 0 excluded, pairs start at 2
    assert res.n_pairs == 18 and abs(res.overhead) < 0.02
    with pytest.raises(GreenllmError, match="off phase either side"):
        phase_rates(times, phases, (0.0, 1.2))


def test_steady_window_runs_from_settled_first_token_to_the_last_admission():
    assert steady_window([3.0, 1.0, 7.5, float("nan")], settle_s=1.0) == (2.0, 7.5)
    with pytest.raises(GreenllmError):
        steady_window([1.0])


def test_a_steady_drift_is_not_read_as_overhead():
    # The engine slows 2 % per second (e.g. KV caches growing): off-then-on pairs alone
    # would see the on phase 1 % slower every time; neighbours either side cancel it.
    times, phases = stream(0.0, rate=200000.0, drift_per_s=-0.02, n_phases=20)
    res = phase_rates(times, phases, (0.0, 10.0))
    assert abs(res.overhead) < 0.002
    naive = np.median([
        np.count_nonzero((times >= b.t0) & (times < b.t1))
        / np.count_nonzero((times >= a.t0) & (times < a.t1))
        for a, b in zip(phases[:-1:2], phases[1::2], strict=True)])
    assert 1 - naive > 0.008  # what the plain pairing would have reported


def test_engine_counted_work_gives_the_same_comparison():
    phases = [Phase(k, k + 1.0, bool(k % 2), count=1000.0 * (0.99 if k % 2 else 1.0))
              for k in range(20)]
    res = counted_rates(phases, (0.0, 20.0))
    assert res.n_pairs == 9 and res.overhead == pytest.approx(0.01, abs=1e-9)
    assert res.cv_phase == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(GreenllmError, match="no counted work"):
        counted_rates([Phase(0, 1, False), Phase(1, 2, True), Phase(2, 3, False)], (0, 3))


def test_drift_regression_finds_the_effect_under_a_curved_drift():
    # 3 % slower when on, under a drift that is curved over the run (not cancelled exactly
    # by neighbours), with 1 % phase noise: the regression finds 3 % within 2 s.e.
    rng = np.random.default_rng(7)
    phases = []
    for k in range(60):
        on = bool(k % 2)
        base = 1000.0 * (1.0 + 0.2 * ((k - 30) / 30) ** 2) * (1 + 0.01 * rng.standard_normal())
        phases.append(Phase(k, k + 1.0, on, count=base * (0.97 if on else 1.0)))
    res = counted_rates(phases, (0.0, 60.0))
    assert abs(res.regression_effect + 0.03) < 2 * res.regression_se < 0.01
    quiet = counted_rates([Phase(k, k + 1.0, bool(k % 2), count=1000.0) for k in range(10)],
                          (0.0, 10.0))
    assert quiet.regression_effect == pytest.approx(0.0, abs=1e-9)


def test_pooled_runs_narrow_the_bound():
    from greenllm.analysis.phase_overhead import pool

    def run(seed: int):
        rng = np.random.default_rng(seed)
        phases = [Phase(k, k + 1.0, bool(k % 2),
                        count=1000.0 * (0.99 if k % 2 else 1.0) * (1 + 0.01 * rng.standard_normal()))
                  for k in range(40)]
        return counted_rates(phases, (0.0, 40.0))

    one, many = pool([run(0)]), pool([run(s) for s in range(9)])
    assert many.n_runs == 9 and many.n_pairs == 9 * 19
    assert many.effect_se == pytest.approx(one.effect_se / 3, rel=0.35)  # 1/sqrt(9)
    assert abs(many.effect + 0.01) < 3 * many.effect_se
    assert many.overhead_upper == pytest.approx(-(many.effect - 1.96 * many.effect_se))
    with pytest.raises(GreenllmError, match="nothing to pool"):
        pool([])
