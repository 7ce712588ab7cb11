"""How often the reported interval holds the truth when engine starts carry offsets.

Synthetic cells: n repeats of one metric, spread over k engine starts in consecutive
blocks as ``load.engine_starts=k`` runs them (``measure.engine_starts.start_of``). Each
start draws an offset (lognormal, ``--start-cv``), each repeat its own noise
(``--repeat-cv``); the truth is the median over starts and repeats (1). Per k: the
coverage of the interval the statistics table reports (``median_ci_matrix``) and its
median width (relative). With k = 1 every repeat shares one offset, so the interval
centres on that start, not on the truth.

    python benchmarks/start_coverage.py [--start-cv 0.10] [--repeat-cv 0.10]
        [--repeats 5] [--cells 20000]

The defaults are about the lent H100's TTFT p50 at 6 req/s (1.1B shape): start-to-start
9.1 %, repeats inside a start 5-17 % (docs/uncertainty.md, "Engine starts").
Synthetic numbers (no GPU, no simulator): the noise is what the flags say.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from greenllm.analysis.uncertainty import CI_LEVEL, median_ci_matrix
from greenllm.measure.engine_starts import start_of


def row(start_cv: float, repeat_cv: float, n: int, k: int, cells: int,
        seed: int = 0) -> dict[str, float]:
    """Coverage and median relative width of the reported interval, n repeats in k starts."""
    rng = np.random.default_rng([seed, n, k])
    block = np.array([start_of(r, n, k) for r in range(n)])
    offsets = start_cv * rng.standard_normal((cells, k))
    values = np.exp(offsets[:, block] + repeat_cv * rng.standard_normal((cells, n)))
    lo, hi = (a[:, 0] for a in median_ci_matrix(values[:, :, None]))
    return {"k": k, "coverage": float(np.mean((lo <= 1.0) & (hi >= 1.0))),
            "width": float(np.median((hi - lo) / np.median(values, axis=1)))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start-cv", type=float, default=0.10)
    ap.add_argument("--repeat-cv", type=float, default=0.10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cells", type=int, default=20000)
    args = ap.parse_args(argv)
    if args.repeats < 3:
        ap.error("--repeats must be >= 3 (no interval below 3)")
    if min(args.start_cv, args.repeat_cv) < 0 or args.cells < 100:
        ap.error("the CVs must be >= 0 and --cells >= 100")
    print(f"{args.repeats} repeats, start-to-start CV {args.start_cv:.0%}, repeat CV "
          f"{args.repeat_cv:.0%}, {args.cells} synthetic cells per row; nominal "
          f"{CI_LEVEL:.0%}")
    print(f"{'engine starts':>13s} {'coverage':>9s} {'width':>7s}")
    for k in range(1, args.repeats + 1):
        r = row(args.start_cv, args.repeat_cv, args.repeats, k, args.cells)
        print(f"{k:13d} {100 * r['coverage']:8.1f}% {100 * r['width']:6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
