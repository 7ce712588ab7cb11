"""How much of a metric's spread is the engine start (runs with ``load.engine_starts`` > 1).

A vLLM start carries its own latency offset (docs/uncertainty.md, "Engine starts"). A
run whose repeats are spread over several starts records each load point's
``engine_start``; this splits each metric's run-to-run spread into

* **within a start**: the repeats' scatter around their start's mean;
* **start to start**: the spread of the starts' true means, net of that scatter,

by one-way random-effects ANOVA on the log of the metric (so both read as CVs). Per load
point the split rests on a handful of repeats, so the sums of squares are also pooled
over all load points (``pooled``): one estimate per metric, the number to compare with
the table in docs/uncertainty.md. A start-to-start CV near the within-start one means an
interval over one start's repeats misses the truth often (``benchmarks/start_coverage.py``).

    python -m greenllm.analysis.start_offsets results/raw/<instance> [--metrics a,b]
    python -m greenllm.analysis.start_offsets --runs-as-starts RUN1 RUN2 RUN3

(``--runs-as-starts``: each folder is one engine start of the same cells, as separate
runs of one arm are.)
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenllm.analysis.flatten import ROW_KEY

METRICS = ("ttft_p50_s", "tbt_p50_s", "energy_per_output_token_j", "power_mean_w")


@dataclass(frozen=True)
class SumsOfSquares:
    """One-way ANOVA sums on logs: within and between starts, with their dfs and the
    effective repeats per start (``n0``, equal to the repeats per start when balanced)."""

    within: float
    df_within: int
    between: float
    df_between: int
    n0: float

    def __add__(self, other: SumsOfSquares) -> SumsOfSquares:
        df_b = self.df_between + other.df_between
        n0 = ((self.n0 * self.df_between + other.n0 * other.df_between) / df_b
              if df_b else math.nan)
        return SumsOfSquares(self.within + other.within, self.df_within + other.df_within,
                             self.between + other.between, df_b, n0)

    def components(self) -> tuple[float, float]:
        """(within-start CV, start-to-start CV), as standard deviations of the log; the
        start component is 0 where the starts differ no more than the repeats predict."""
        if self.df_within < 1 or self.df_between < 1:
            return math.nan, math.nan
        msw = self.within / self.df_within
        msb = self.between / self.df_between
        return math.sqrt(msw), math.sqrt(max(0.0, (msb - msw) / self.n0))


def sums(values: Sequence[float], starts: Sequence[int]) -> SumsOfSquares | None:
    """The ANOVA sums of one load point's repeats (positive, finite values only); None
    with fewer than two starts."""
    frame = pd.DataFrame({"y": np.asarray(values, dtype=float), "start": list(starts)})
    frame = frame[np.isfinite(frame["y"]) & (frame["y"] > 0)]
    frame = frame.assign(y=np.log(frame["y"]))
    groups = frame.groupby("start")["y"]
    a, n = groups.ngroups, len(frame)
    if a < 2:
        return None
    sizes, means = groups.size().to_numpy(float), groups.mean().to_numpy(float)
    within = float(((frame["y"] - groups.transform("mean")) ** 2).sum())
    between = float((sizes * (means - frame["y"].mean()) ** 2).sum())
    n0 = (n - float((sizes ** 2).sum()) / n) / (a - 1)
    return SumsOfSquares(within, n - a, between, a - 1, n0)


def start_offsets(table: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Per metric: load points with >= 2 starts, the median per point of the within-start
    and start-to-start CVs, and both from the sums pooled over those points."""
    if "engine_start" not in table.columns or table["engine_start"].isna().all():
        raise ValueError("no load point records an engine_start: the run had one engine "
                         "start (load.engine_starts=1)")
    rows = []
    recorded = table[table["engine_start"].notna()]
    for metric in metrics:
        if metric not in recorded.columns:
            continue
        per_point = [s for _, g in recorded.groupby(list(ROW_KEY), sort=False)
                     if (s := sums(g[metric], g["engine_start"].astype(int))) is not None]
        if not per_point:
            continue
        split = np.array([s.components() for s in per_point], dtype=float)
        pooled = sum(per_point[1:], per_point[0]).components()
        rows.append({"metric": metric, "points": len(per_point),
                     "within_cv_median": float(np.nanmedian(split[:, 0])),
                     "start_cv_median": float(np.nanmedian(split[:, 1])),
                     "within_cv_pooled": pooled[0], "start_cv_pooled": pooled[1]})
    return pd.DataFrame(rows, columns=["metric", "points", "within_cv_median",
                                       "start_cv_median", "within_cv_pooled",
                                       "start_cv_pooled"])


def main(argv: Sequence[str] | None = None) -> int:
    from greenllm.analysis.aggregate import read_cells
    from greenllm.errors import GreenllmError

    ap = argparse.ArgumentParser(prog="python -m greenllm.analysis.start_offsets",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", help="raw run folders or cell summaries")
    ap.add_argument("--metrics", default=",".join(METRICS))
    ap.add_argument("--runs-as-starts", action="store_true",
                    help="each path is one engine start of the same cells (separate runs, "
                         "e.g. tools/device/same-rate-arms.sh's exact, exact2, exact3)")
    a = ap.parse_args(argv)
    try:
        if a.runs_as_starts:
            if len(a.paths) < 2:
                raise ValueError("--runs-as-starts needs two or more run folders")
            table = pd.concat([read_cells([p]).table.assign(engine_start=float(i))
                               for i, p in enumerate(a.paths)], ignore_index=True)
        else:
            table = read_cells(a.paths).table
        out = start_offsets(table, a.metrics.split(","))
    except (GreenllmError, ValueError) as err:
        print(f"start_offsets: {err}", file=sys.stderr)
        return 2
    starts = int(table["engine_start"].max()) + 1
    print(f"{len(table)} load-point repeats over {starts} engine starts; CV as the standard "
          f"deviation of the log (per load point: median; pooled over the points)")
    print(f"{'metric':<28}{'points':>7}{'within':>10}{'start':>10}{'within':>10}{'start':>10}")
    print(f"{'':<35}{'(median per point)':>20}{'(pooled)':>20}")
    for r in out.itertuples():
        print(f"{r.metric:<28}{r.points:>7}{r.within_cv_median:>10.1%}"
              f"{r.start_cv_median:>10.1%}{r.within_cv_pooled:>10.1%}{r.start_cv_pooled:>10.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
