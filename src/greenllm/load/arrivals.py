"""When each request is sent: offsets (seconds from the start of a run) of an arrival
process at a given mean rate.

* ``poisson``: exponential inter-arrival gaps (CV 1), the default of ``vllm bench serve``.
* ``gamma``: gamma-distributed gaps with coefficient of variation ``cv``
  (shape ``1/cv**2``, scale ``1/(rate*shape)``): ``cv > 1`` is burstier than Poisson,
  ``cv < 1`` smoother. vLLM's ``--burstiness`` is our ``1/cv**2``.
* ``constant``: evenly spaced, ``1/rate`` apart.

The first request goes at offset 0 and request ``i`` at the sum of the first ``i`` gaps,
so ``n`` requests span ``n-1`` gaps. (``vllm bench serve`` waits one gap before its first
request and rescales the gaps so the last one lands at exactly ``n/rate``; this function
keeps the process as drawn unless ``normalize=True``, which rescales the gaps so their
mean is exactly ``1/rate``, so the offered rate of a short run does not wander:
``greenllm measure`` asks for that by default, ``load.exact_rate``.)
"""

from __future__ import annotations

import math

import numpy as np

from greenllm.errors import ConfigError

PROCESSES = ("poisson", "gamma", "constant")


def _check_arrivals(process: str, rate_rps: float, n: int, cv: float) -> None:
    if process not in PROCESSES:
        raise ConfigError(f"unknown arrival process {process!r}: use one of {', '.join(PROCESSES)}")
    if isinstance(rate_rps, bool) or not isinstance(rate_rps, (int, float)) or not (
        math.isfinite(rate_rps) and rate_rps > 0
    ):
        raise ConfigError(f"request rate must be a positive finite number of req/s, got {rate_rps!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"number of requests must be a positive integer, got {n!r}")
    if not isinstance(cv, (int, float)) or not (math.isfinite(cv) and cv > 0):
        raise ConfigError(f"arrival cv must be a positive finite number, got {cv!r}")
    if process == "poisson" and cv != 1.0:
        raise ConfigError(f"a poisson process has cv 1 (got cv={cv}); use process 'gamma'")


def arrival_offsets_s(
    process: str,
    rate_rps: float,
    n: int,
    seed: int,
    cv: float = 1.0,
    *,
    normalize: bool = False,
) -> np.ndarray:
    """``n`` non-decreasing send offsets in seconds, the first at 0; same seed, same offsets."""
    _check_arrivals(process, rate_rps, n, cv)
    n = int(n)
    mean_gap_s = 1.0 / float(rate_rps)
    if process == "constant" or n == 1:
        gaps = np.full(n - 1, mean_gap_s)
    else:
        rng = np.random.default_rng(seed)
        shape = 1.0 / (cv * cv)
        gaps = rng.gamma(shape, mean_gap_s / shape, size=n - 1)
        if normalize and gaps.sum() > 0:
            gaps *= mean_gap_s * (n - 1) / gaps.sum()
    return np.concatenate(([0.0], np.cumsum(gaps)))


def vllm_bench_offsets_s(rate_rps: float, n: int, seed: int, cv: float = 1.0) -> np.ndarray:
    """Send offsets drawn the way ``vllm bench serve`` draws them (vLLM 0.26,
    ``benchmarks/serve.py``): ``n`` gamma gaps (Poisson for ``cv`` 1), the first before the
    first request, rescaled so the last request goes at exactly ``n / rate``. A/B runs
    against vLLM's client use these, so both send the same offered load (our own process
    keeps the drawn gaps, and a short run's offered rate then wanders by several %)."""
    _check_arrivals("gamma", rate_rps, n, cv)
    # The same draws as vLLM's, not only the same law: vLLM seeds numpy's legacy global
    # generator with the run's seed and draws nothing else from it before these gaps, so
    # a greenllm run and a ``vllm bench serve`` run of one seed send the identical
    # schedule, and an A/B round compares the clients on the same load.
    rng = np.random.RandomState(int(seed))
    shape = 1.0 / (cv * cv)
    offsets = np.cumsum(rng.gamma(shape, 1.0 / (float(rate_rps) * shape), size=int(n)))
    return offsets * (int(n) / float(rate_rps)) / offsets[-1]
