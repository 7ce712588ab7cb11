"""How often the reported 95 % interval of a median over n repeats holds the truth, by n.

Draws synthetic cells (n repeats of one metric whose noise has a true median of 1) and
prints, per n, the coverage of

* the percentile bootstrap alone (``analysis.uncertainty.bootstrap_median_ci``);
* the interval the statistics table reports (``median_ci_matrix``, the same as
  ``median_ci``: the bootstrap, widened to hold the median ± t(n-1)·s/√n at every n but 5);

and the reported interval's median width over the bootstrap's. docs/uncertainty.md's
coverage table comes from this (its "why" is there too).

    python benchmarks/interval_coverage.py [--cells 20000] [--noise lognormal|normal|t3]
        [--cv 0.10] [--repeats 3,4,5,6,7,8,9,10,13,14]

Synthetic numbers (no GPU, no simulator): the noise is what the flags say.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from greenllm.analysis.uncertainty import (
    CI_LEVEL,
    bootstrap_median_ci,
    median_ci_matrix,
    widened_at,
)

NOISES = ("lognormal", "normal", "t3")
BARE_SAMPLE = 2000  # the bare bootstrap runs per cell, so it sees fewer cells


def draw(noise: str, cv: float, cells: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(cells, n) values whose noise has median exactly 1."""
    if noise == "lognormal":
        return np.exp(cv * rng.standard_normal((cells, n)))
    if noise == "normal":
        return 1.0 + cv * rng.standard_normal((cells, n))
    return 1.0 + cv * rng.standard_t(3, (cells, n))


def row(noise: str, cv: float, cells: int, n: int, seed: int) -> dict[str, float]:
    values = draw(noise, cv, cells, n, np.random.default_rng([seed, n]))
    lo, hi = (a[:, 0] for a in median_ci_matrix(values[:, :, None]))
    bare = np.array([bootstrap_median_ci(v) for v in values[:BARE_SAMPLE]])
    return {
        "n": n,
        "bare": float(np.mean((bare[:, 0] <= 1.0) & (bare[:, 1] >= 1.0))),
        "reported": float(np.mean((lo <= 1.0) & (hi >= 1.0))),
        "width_ratio": float(np.median((hi[:BARE_SAMPLE] - lo[:BARE_SAMPLE])
                                       / (bare[:, 1] - bare[:, 0]))),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=20_000)
    ap.add_argument("--noise", choices=NOISES, default="lognormal")
    ap.add_argument("--cv", type=float, default=0.10)
    ap.add_argument("--repeats", default="3,4,5,6,7,8,9,10,13,14")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.cells < 100 or args.cv <= 0:
        ap.error("--cells must be at least 100 and --cv above 0")
    try:
        counts = [int(k) for k in args.repeats.split(",")]
    except ValueError:
        ap.error(f"--repeats: comma-separated integers, not {args.repeats!r}")
    if min(counts) < 3:
        ap.error("--repeats: an interval needs at least 3 repeats")
    print(f"{args.noise} noise, scale {args.cv}, {args.cells} cells per n (bare bootstrap: "
          f"first {min(args.cells, BARE_SAMPLE)}); nominal level {CI_LEVEL:.0%}")
    print(f"{'n':>3} {'bootstrap alone':>16} {'reported':>9} {'widened':>8} {'width x':>8}")
    for n in counts:
        r = row(args.noise, args.cv, args.cells, n, args.seed)
        print(f"{n:>3} {r['bare']:>15.1%} {r['reported']:>9.1%} "
              f"{'yes' if widened_at(n) else 'no':>8} {r['width_ratio']:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
