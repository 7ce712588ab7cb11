"""Would stopping each load point on its own, not each cell, save GPU time? (issue 18)

Runs a preset's grid once on the simulator in virtual time
(``greenllm.calibrate.virtual_campaign``) under the fixed policy (5 repeats, cold
search, every window at its exact nominal rate: today's default arrivals) and replays
two stopping rules on those repeats, as ``measure.adaptive_replay`` does for a real run
(repeat r is the same measurement under every rule):

* per cell (what ``greenllm measure`` does): a cell stops after repeat n >= 3 once every
  target of every one of its load points is met (``measure.adaptive.decide``);
* per point: each load point stops on its own targets (the same ``decide`` on that point
  alone), its cell's other points go on.

Prints how many points stopped after 3, 4 or 5 repeats and each rule's load-point time
(the window's send span, requests / rate) as a share of 5 repeats everywhere.

    python benchmarks/per_point_stopping.py [--preset paper] [--clocks 800,1980]
        [--targets ttft_p50_s=0.0145,tbt_p50_s=0.0028,energy_per_output_token_j=0.0945]

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign_cost import ROOT, build_plan  # noqa: E402

from greenllm import plan as gplan  # noqa: E402
from greenllm.calibrate.virtual_campaign import CampaignPolicy, Settings, run_campaign  # noqa: E402
from greenllm.measure.adaptive import RepeatPolicy, decide  # noqa: E402
from greenllm.plan.spend_estimate import with_measure_defaults  # noqa: E402

POINT = ["instance_id", "clock_label", "workload_id", "load_point"]


def stop_after(values: Mapping[tuple[str, str], np.ndarray], policy: RepeatPolicy) -> int:
    """How many repeats ``decide`` gives the (load point, metric) ``values`` replayed one
    repeat at a time: the first count at which every target is met, else the cap."""
    for n in range(1, policy.cap + 1):
        if decide(policy, {key: v[:n] for key, v in values.items()}, n).stop:
            return n
    return policy.cap


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--clocks", default="800,1980")
    ap.add_argument("--targets", default="ttft_p50_s=0.0145,tbt_p50_s=0.0028,"
                                         "energy_per_output_token_j=0.0945")
    args = ap.parse_args(argv)
    targets = {k: float(v) for k, _, v in (i.partition("=") for i in args.targets.split(","))}
    plan = build_plan(args.preset, args.clocks, None)
    groups = with_measure_defaults(gplan.load_measure_groups(ROOT, plan.config))
    settings = Settings(groups["search"], groups["load"], groups["slo"])
    cap = 5
    policy = CampaignPolicy("fixed", RepeatPolicy(fixed=cap, targets={}, max_repeats=cap),
                            warm_search=False, exact_rate=True)
    adaptive = RepeatPolicy(targets=targets, max_repeats=cap)
    print(f"preset {args.preset}, clocks {args.clocks}: {len(plan.cells)} cells, "
          f"{cap} repeats at exact rates; simulated (virtual time)", flush=True)
    table = run_campaign(plan, settings, policy).table
    values: dict[tuple, dict[tuple[str, str], np.ndarray]] = {}  # cell -> decide's values
    stops: dict[tuple, int] = {}
    span: dict[tuple, float] = {}
    for key, g in table.groupby(POINT):
        g = g.sort_values("repeat")
        rate = float(g["rate_rps"].iloc[0] or 0.0)
        if not rate > 0:
            continue  # a cell whose search found nothing ran no load point
        mine = {(key[3], m): g[m].to_numpy(dtype=float) for m in targets}
        values.setdefault(key[:3], {}).update(mine)
        stops[key] = stop_after(mine, adaptive)
        span[key] = settings.point_sizing.count(rate) / rate
    full = sum(cap * s for s in span.values())
    per_point = sum(stops[k] * span[k] for k in stops) / full
    per_cell = sum(stop_after(vals, adaptive) * sum(span[k] for k in stops if k[:3] == cell)
                   for cell, vals in values.items()) / full
    counts = Counter(stops.values())
    print(f"targets {targets}")
    print(f"{len(stops)} load points stopped after 3 / 4 / {cap} repeats: "
          f"{counts[3]} / {counts[4]} / {counts[cap]}")
    print(f"load-point time vs {cap} repeats everywhere: per cell {per_cell:.1%}, "
          f"per point {per_point:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
