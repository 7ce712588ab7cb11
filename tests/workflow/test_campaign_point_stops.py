"""Per-point stopping in the virtual-time campaign: a load point whose targets are met
sits out the cell's later repeats, so the campaign spends less window time than when the
cell waits for its noisiest point, and each point's rows say why it stopped."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from greenllm import plan as gplan
from greenllm.calibrate.virtual_campaign import CampaignPolicy, Settings, run_campaign
from greenllm.measure.adaptive import STOP_CAP, STOP_TARGETS_MET, relative_half_width, repeat_policy
from greenllm.plan.spend_estimate import with_measure_defaults

ROOT = Path(__file__).resolve().parents[2]
POINT = ["instance_id", "clock_label", "workload_id", "load_point"]


def test_points_stop_on_their_own_and_spend_less_than_cells():
    plan = gplan.plan_from_config({"preset": "smoke"}, ROOT)
    groups = with_measure_defaults(gplan.load_measure_groups(ROOT, plan.config))
    settings = Settings(groups["search"], groups["load"], groups["slo"])
    fixed = run_campaign(plan, settings, CampaignPolicy(
        "fixed", repeat_policy(5, None, 5), warm_search=False, exact_rate=True))
    # a TTFT target that about half the points meet after three repeats
    widths = [relative_half_width(g.sort_values("repeat")["ttft_p50_s"].to_numpy()[:3])
              for _, g in fixed.table[fixed.table["rate_rps"].notna()].groupby(POINT)]
    target = float(np.median([w for w in widths if w is not None]))
    targets = {"ttft_p50_s": target}
    runs = {per: run_campaign(plan, settings, CampaignPolicy(
        per, repeat_policy(None, targets, 5, per), warm_search=False, exact_rate=True))
        for per in ("point", "cell")}
    point, cell = runs["point"], runs["cell"]
    # the same searches and arrivals (repeat r, point i): only the stopping differs
    assert point.probes == cell.probes
    assert point.gpu_s_in_windows < cell.gpu_s_in_windows
    rows = point.table[point.table["rate_rps"].notna()]
    per = rows.groupby(POINT).agg(stop=("repeat_stop", "first"), n=("repeat", "nunique"),
                                  first=("repeat", "min"), last=("repeat", "max"))
    assert set(per["stop"]) == {STOP_TARGETS_MET, STOP_CAP}
    met = per[per["stop"] == STOP_TARGETS_MET]
    assert (met["n"] >= 3).all() and (met["n"] < 5).any()
    assert (per.loc[per["stop"] == STOP_CAP, "n"] == 5).all()
    assert (per["last"] - per["first"] + 1 == per["n"]).all()  # a point's repeats are its first n
    # a stopped point's rows are the fixed run's rows for those repeats (same arrivals)
    fixed_rows = fixed.table.set_index([*POINT, "repeat"])["ttft_p50_s"]
    mine = rows.set_index([*POINT, "repeat"])["ttft_p50_s"]
    assert np.allclose(mine.to_numpy(), fixed_rows.loc[mine.index].to_numpy())
