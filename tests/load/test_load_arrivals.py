import numpy as np
import pytest

from greenllm.errors import ConfigError
from greenllm.load.arrivals import arrival_offsets_s


def _gaps(offsets):
    return np.diff(offsets)


def test_poisson_has_the_rate_and_cv_one():
    offsets = arrival_offsets_s("poisson", 8.0, 40001, seed=7)
    gaps = _gaps(offsets)
    assert offsets[0] == 0.0 and np.all(gaps >= 0)
    # 40000 exponential gaps: standard error of the mean 0.5 %, of the CV about 0.5 %.
    assert gaps.mean() == pytest.approx(1 / 8.0, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("cv", [0.5, 2.0])
def test_gamma_has_the_requested_cv(cv):
    gaps = _gaps(arrival_offsets_s("gamma", 20.0, 40001, seed=3, cv=cv))
    assert gaps.mean() == pytest.approx(1 / 20.0, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, rel=0.05)


def test_constant_is_evenly_spaced():
    offsets = arrival_offsets_s("constant", 4.0, 5, seed=0)
    assert offsets.tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


def test_same_seed_same_offsets_other_seed_others():
    a = arrival_offsets_s("poisson", 5.0, 100, seed=1)
    assert np.array_equal(a, arrival_offsets_s("poisson", 5.0, 100, seed=1))
    assert not np.array_equal(a, arrival_offsets_s("poisson", 5.0, 100, seed=2))


def test_normalize_makes_the_mean_gap_exact():
    offsets = arrival_offsets_s("poisson", 5.0, 11, seed=4, normalize=True)
    assert offsets[-1] == pytest.approx(10 / 5.0)
    assert arrival_offsets_s("poisson", 5.0, 1, seed=4).tolist() == [0.0]


@pytest.mark.parametrize("kwargs, match", [
    ({"process": "uniform", "rate_rps": 1, "n": 5}, "unknown arrival process"),
    ({"process": "poisson", "rate_rps": 0, "n": 5}, "positive"),
    ({"process": "poisson", "rate_rps": float("inf"), "n": 5}, "positive"),
    ({"process": "poisson", "rate_rps": 1, "n": 0}, "positive integer"),
    ({"process": "gamma", "rate_rps": 1, "n": 5, "cv": -1}, "cv"),
    ({"process": "poisson", "rate_rps": 1, "n": 5, "cv": 2.0}, "gamma"),
])
def test_bad_arguments_are_one_line_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        arrival_offsets_s(seed=0, **kwargs)
    assert "\n" not in str(err.value)


def test_vllm_bench_offsets_are_vllms_own_draws():
    """vLLM 0.26 seeds numpy's legacy generator with the run's seed, draws one gamma gap
    per request (its first before the first request) and rescales them to end at n/rate:
    the same seed must give the very same schedule here."""
    import numpy as np

    from greenllm.load.arrivals import vllm_bench_offsets_s

    rate, n, seed = 7.9, 120, 3
    np.random.seed(seed)
    delays = np.cumsum([np.random.gamma(shape=1.0, scale=1.0 / rate) for _ in range(n)])
    delays *= (n / rate) / delays[-1]
    assert np.allclose(vllm_bench_offsets_s(rate, n, seed), delays, rtol=1e-12)
