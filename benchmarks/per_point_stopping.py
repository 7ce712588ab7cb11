"""Would stopping each load point on its own, not each cell, save GPU time? And with
shorter windows? (issue 18)

Runs a preset's grid on the simulator in virtual time
(``greenllm.calibrate.virtual_campaign``) under the fixed policy (5 repeats, cold
search, every window at its exact nominal rate: today's default arrivals) and replays
two stopping rules on those repeats, as ``measure.adaptive_replay`` does for a real run
(repeat r is the same measurement under every rule):

* per cell (``load.stop_per=cell``, ``greenllm measure``'s default until 2026-12-07): a
  cell stops after repeat n >= 3 once every target of every one of its load points is
  met (``measure.adaptive.decide``);
* per point (``load.stop_per=point``, the default since): each load point stops on its
  own targets (the same ``decide`` on that point alone), its cell's other points go on.

``--window-fraction q`` (< 1) also runs the grid with every load-point window q times as
long (``load.requests_per_point``, ``min_duration_s`` and ``max_duration_s`` scaled by q;
the same searched rates) and up to 5 / q repeats, the same GPU time as 5 full windows,
and replays per-point stopping on those short repeats: a point whose metrics are steady
stops after 3 short windows (3q / 5 of its time). It prints the intervals reached and
how far the short windows' medians sit from the full ones' (a short window starts and
ends further from steady state).

Prints how many points stopped after how many repeats and each rule's load-point time
(the window's send span, requests / rate) as a share of 5 full repeats everywhere.

    python benchmarks/per_point_stopping.py [--preset paper] [--clocks 800,1980]
        [--targets ttft_p50_s=0.0145,tbt_p50_s=0.0028,energy_per_output_token_j=0.0945]
        [--window-fraction 0.25]

The default targets are the drawn fixed policy's median half-widths on that 2-clock grid
(docs/campaign.md). Simulated numbers: no GPU, repeats differ only by arrival draws.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign_cost import ROOT, build_plan, shortened  # noqa: E402

from greenllm import plan as gplan  # noqa: E402
from greenllm.calibrate.virtual_campaign import CampaignPolicy, Settings, run_campaign  # noqa: E402
from greenllm.measure.adaptive import RepeatPolicy, relative_half_width, replay_stops  # noqa: E402
from greenllm.plan.spend_estimate import with_measure_defaults  # noqa: E402

POINT = ["instance_id", "clock_label", "workload_id", "load_point"]
FULL_REPEATS = 5


def stop_after(values: Mapping[tuple[str, str], np.ndarray], policy: RepeatPolicy) -> int:
    """How many repeats ``decide`` gives the (load point, metric) ``values`` replayed one
    repeat at a time: the first count at which every target is met, else the cap."""
    return replay_stops(policy, values, policy.cap)[1]


def short_repeats(fraction: float) -> int:
    """Repeats of ``fraction``-long windows that take the GPU time of 5 full ones."""
    return max(FULL_REPEATS, round(FULL_REPEATS / fraction))


def _points(table: pd.DataFrame, settings: Settings, metrics: list[str]):
    """(point key, its window's send span in s, {metric: values by repeat}) for each
    measured load point."""
    for key, g in table.groupby(POINT):
        g = g.sort_values("repeat")
        rate = float(g["rate_rps"].iloc[0] or 0.0)
        if rate > 0:  # a cell whose search found nothing ran no load point
            yield key, settings.point_sizing.count(rate) / rate, \
                {m: g[m].to_numpy(dtype=float) for m in metrics}


def _fixed_campaign(plan, groups, load, cap: int) -> tuple[pd.DataFrame, Settings]:
    settings = Settings(groups["search"], load, groups["slo"])
    policy = CampaignPolicy("fixed", RepeatPolicy(fixed=cap, targets={}, max_repeats=cap),
                            warm_search=False, exact_rate=True)
    return run_campaign(plan, settings, policy).table, settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--clocks", default="800,1980")
    ap.add_argument("--targets", default="ttft_p50_s=0.0145,tbt_p50_s=0.0028,"
                                         "energy_per_output_token_j=0.0945")
    ap.add_argument("--window-fraction", type=float, default=None,
                    help="also replay per-point stopping on windows this fraction as long")
    args = ap.parse_args(argv)
    targets = {k: float(v) for k, _, v in (i.partition("=") for i in args.targets.split(","))}
    metrics = list(targets)
    plan = build_plan(args.preset, args.clocks, None)
    groups = with_measure_defaults(gplan.load_measure_groups(ROOT, plan.config))
    cap = FULL_REPEATS
    per_cell_policy = RepeatPolicy(targets=targets, max_repeats=cap, per_point=False)
    print(f"preset {args.preset}, clocks {args.clocks}: {len(plan.cells)} cells, "
          f"{cap} repeats at exact rates; simulated (virtual time)", flush=True)
    table, settings = _fixed_campaign(plan, groups, groups["load"], cap)
    values: dict[tuple, dict[tuple[str, str], np.ndarray]] = {}  # cell -> decide's values
    full_values: dict[tuple, dict[str, np.ndarray]] = {}
    stops: dict[tuple, int] = {}
    span: dict[tuple, float] = {}
    for key, point_span, mine in _points(table, settings, metrics):
        span[key] = point_span
        full_values[key] = mine
        point = {(key[3], m): v for m, v in mine.items()}
        values.setdefault(key[:3], {}).update(point)
        stops[key] = stop_after(point, per_cell_policy)  # one point alone: its own stop
    full = sum(cap * s for s in span.values())
    per_point = sum(stops[k] * span[k] for k in stops) / full
    per_cell = sum(stop_after(vals, per_cell_policy) * sum(span[k] for k in stops if k[:3] == cell)
                   for cell, vals in values.items()) / full
    counts = Counter(stops.values())
    print(f"targets {targets}")
    print(f"{len(stops)} load points stopped after 3 / 4 / {cap} repeats: "
          f"{counts[3]} / {counts[4]} / {counts[cap]}")
    print(f"load-point time vs {cap} repeats everywhere: per cell {per_cell:.1%}, "
          f"per point {per_point:.1%}")
    if args.window_fraction is not None and args.window_fraction < 1:
        short_windows(plan, groups, targets, full_values, span, full, args.window_fraction)
    return 0


def short_windows(plan, groups, targets: Mapping[str, float],
                  full_values: Mapping[tuple, Mapping[str, np.ndarray]],
                  span: Mapping[tuple, float], full: float, fraction: float) -> None:
    """Per-point stopping on windows ``fraction`` as long, against 5 full repeats."""
    n_cap = short_repeats(fraction)
    print(f"\nwindows x{fraction:g}, up to {n_cap} repeats (the time of {FULL_REPEATS} full "
          f"ones), per-point stopping; simulated", flush=True)
    table, settings = _fixed_campaign(plan, groups, shortened(groups["load"], fraction), n_cap)
    policy = RepeatPolicy(targets=dict(targets), max_repeats=n_cap)
    spent, stops = 0.0, Counter()
    at_stop: dict[str, list[float]] = {m: [] for m in targets}
    offset: dict[str, list[float]] = {m: [] for m in targets}
    wider: Counter = Counter()
    for key, short_span, mine in _points(table, settings, list(targets)):
        if key not in full_values:
            continue
        n = stop_after({(key[3], m): v for m, v in mine.items()}, policy)
        stops[n] += 1
        spent += n * short_span
        for m, v in mine.items():
            w = relative_half_width(v[:n])
            w_full = relative_half_width(full_values[key][m])
            at_stop[m].append(np.nan if w is None else w)
            if w is not None and w_full is not None and w > max(targets[m], w_full) * (1 + 1e-9):
                wider[m] += 1
            offset[m].append(float(np.median(v) / np.median(full_values[key][m]) - 1))
    print(f"{sum(stops.values())} load points stopped after n short repeats: "
          + ", ".join(f"{n}: {c}" for n, c in sorted(stops.items())))
    print(f"load-point time vs {FULL_REPEATS} full repeats everywhere: per point "
          f"{spent / full:.1%}")
    for m in targets:
        w, o = np.asarray(at_stop[m]), np.asarray(offset[m])
        print(f"  {m}: half-width at stop median {np.nanmedian(w):.2%} max {np.nanmax(w):.2%} "
              f"(target {targets[m]:.2%}); {wider[m]} points wider than both the target and "
              f"their own 5 full repeats; short / full median {np.median(o):+.1%} "
              f"({o.min():+.1%} to {o.max():+.1%})")


if __name__ == "__main__":
    sys.exit(main())
