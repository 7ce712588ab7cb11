"""How often a reported 95 % interval covers the truth under each repeat-stopping rule.

Adaptive repeats stop a load point (``load.stop_per=point``) or a cell
(``load.stop_per=cell``, the default) as soon as its intervals look tight enough, so
points end with 3-5 repeats, and those that stop early are those whose values happened
to agree. This draws synthetic cells (3 load points, one metric, normal noise of a given
CV around a true median of 1), runs ``measure.adaptive.decide`` repeat by repeat exactly
as ``greenllm measure`` does (``replay_stops``), and counts how often the intervals reported at the stop
contain the true value:

* the statistics table's interval (``analysis.uncertainty.median_ci``, percentile
  bootstrap of the median: about the repeats' range at 3-5 repeats, so 75 / 88 / 94 %
  coverage at 3 / 4 / 5 repeats before any stopping);
* the interval ``decide`` judged (the larger of that and a Student t interval, centred
  on the median).

    python benchmarks/stopping_coverage.py [--trials 2000] [--seed 1]

Synthetic numbers (no GPU, no simulator): the noise is what the CV says.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from greenllm.analysis.uncertainty import median_ci
from greenllm.measure.adaptive import relative_half_width, repeat_policy, replay_stops

POINTS = ("low", "medium", "high")
CAP = 5
CASES = ((0.03, 0.05), (0.05, 0.05), (0.10, 0.10), (0.10, 0.05))  # (noise CV, target)


def coverage(stop_per: str, cv: float, target: float, trials: int,
             rng: np.random.Generator) -> tuple[float, float, float]:
    """(table-interval coverage, decide-interval coverage, mean repeats per point)."""
    policy = repeat_policy(None, {"m": target}, CAP, stop_per)
    table = judged = total = repeats = 0
    for _ in range(trials):
        data = {p: 1.0 + cv * rng.standard_normal(CAP) for p in POINTS}
        decision, _ = replay_stops(policy, {(p, "m"): data[p] for p in POINTS}, CAP)
        n = decision.point_repeats
        for p in POINTS:
            v = data[p][:n[p]]
            lo, hi = median_ci(v)
            table += lo <= 1.0 <= hi
            med, w = float(np.median(v)), relative_half_width(v)
            judged += w is not None and abs(med - 1.0) <= w * abs(med)
            total += 1
            repeats += n[p]
    return table / total, judged / total, repeats / total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000, help="cells per case and rule")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"{args.trials} synthetic cells of {len(POINTS)} points per case, cap {CAP}; "
          "coverage of the 95 % intervals reported at the stop (table / judged), mean repeats")
    print(f"{'noise CV':>9} {'target':>7}   {'per point':<26} {'per cell':<26}")
    for cv, target in CASES:
        cells = []
        for rule in ("point", "cell"):
            t, j, n = coverage(rule, cv, target, args.trials, rng)
            cells.append(f"{t:6.1%} / {j:6.1%}, {n:.2f} rep")
        print(f"{cv:>9.0%} {target:>7.0%}   {cells[0]:<26} {cells[1]:<26}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
