"""How often a reported 95 % interval covers the truth under each repeat-stopping rule.

Adaptive repeats stop a load point (``load.stop_per=point``, the default) or a cell
(``load.stop_per=cell``) as soon as its intervals look tight enough, so
points end with 3-5 repeats, and those that stop early are those whose values happened
to agree. This draws synthetic cells (3 load points, one metric, normal noise of a given
CV around a true median of 1), runs ``measure.adaptive.decide`` repeat by repeat exactly
as ``greenllm measure`` does (``replay_stops``), and counts how often the intervals
reported at the stop contain the true value:

* the bootstrap alone (``analysis.uncertainty.bootstrap_median_ci``, the percentile
  bootstrap of the median: about the repeats' range at 3-5 repeats, so 75 / 88 / 94 %
  coverage at 3 / 4 / 5 repeats before any stopping), which the statistics table
  reported until 2026-12-07;
* the statistics table's interval (``median_ci``: that, widened at 3-4 repeats (and
  above 5) to hold the median ± a Student t half-width);
* the interval ``decide`` judged (the larger of the table's and a Student t interval,
  centred on the median).

    python benchmarks/stopping_coverage.py [--trials 2000] [--seed 1]

Synthetic numbers (no GPU, no simulator): the noise is what the CV says.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from greenllm.analysis.uncertainty import bootstrap_median_ci, median_ci
from greenllm.measure.adaptive import relative_half_width, repeat_policy, replay_stops

POINTS = ("low", "medium", "high")
CAP = 5
CASES = ((0.03, 0.05), (0.05, 0.05), (0.10, 0.10), (0.10, 0.05))  # (noise CV, target)


def coverage(stop_per: str, cv: float, target: float, trials: int,
             rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(bootstrap-alone coverage, table-interval coverage, decide-interval coverage,
    mean repeats per point)."""
    policy = repeat_policy(None, {"m": target}, CAP, stop_per)
    alone = table = judged = total = repeats = 0
    for _ in range(trials):
        data = {p: 1.0 + cv * rng.standard_normal(CAP) for p in POINTS}
        decision, _ = replay_stops(policy, {(p, "m"): data[p] for p in POINTS}, CAP)
        n = decision.point_repeats
        for p in POINTS:
            v = data[p][:n[p]]
            lo, hi = bootstrap_median_ci(v)
            alone += lo <= 1.0 <= hi
            lo, hi = median_ci(v)
            table += lo <= 1.0 <= hi
            med, w = float(np.median(v)), relative_half_width(v)
            judged += w is not None and abs(med - 1.0) <= w * abs(med)
            total += 1
            repeats += n[p]
    return alone / total, table / total, judged / total, repeats / total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000, help="cells per case and rule")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"{args.trials} synthetic cells of {len(POINTS)} points per case, cap {CAP}; "
          "coverage of the 95 % intervals reported at the stop (bootstrap alone / table / "
          "judged), mean repeats")
    print(f"{'noise CV':>9} {'target':>7}   {'per point':<34} {'per cell':<34}")
    for cv, target in CASES:
        cells = []
        for rule in ("point", "cell"):
            a, t, j, n = coverage(rule, cv, target, args.trials, rng)
            cells.append(f"{a:6.1%} / {t:6.1%} / {j:6.1%}, {n:.2f} rep")
        print(f"{cv:>9.0%} {target:>7.0%}   {cells[0]:<34} {cells[1]:<34}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
