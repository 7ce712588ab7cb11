"""Does `greenllm plan --expected --noise-from PILOT` predict an adaptive run better than
an assumed noise level?

On the simulator (virtual time, no GPU): a pilot campaign (5 exact-rate repeats per load
point, warm search) gives a cells table; the adaptive campaign runs on the same grid; the
plan's expected GPU-hours are printed under each assumed noise CV (``--assume``) and
under the pilot's table (``greenllm.plan.spend_estimate.noise_from_table``), each beside
the adaptive run's, for every target set given.

    python benchmarks/plan_noise.py [--clocks 800,1400,1980] [--assume 0.10,0.03]
        [--targets ttft_p50_s=0.03,tbt_p50_s=0.03,energy_per_output_token_j=0.03 ...]

Simulated numbers; about 1 min wall per target set on a 2-core box (plus the pilot).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign_cost import ROOT, build_plan  # noqa: E402

from greenllm import plan as gplan  # noqa: E402
from greenllm.calibrate.virtual_campaign import (  # noqa: E402
    CampaignPolicy,
    Settings,
    run_campaign,
)
from greenllm.errors import ConfigError  # noqa: E402
from greenllm.measure.adaptive import RepeatPolicy, policy_from_cfg  # noqa: E402
from greenllm.measure.adaptive_replay import parse_targets  # noqa: E402
from greenllm.plan.spend_estimate import (  # noqa: E402
    expected_spend,
    noise_from_table,
    with_measure_defaults,
)

DEFAULT_TARGETS = ("ttft_p50_s=0.03,tbt_p50_s=0.03,energy_per_output_token_j=0.03",
                   "ttft_p50_s=0.05,tbt_p50_s=0.05,energy_per_output_token_j=0.02",
                   "ttft_p50_s=0.10,tbt_p50_s=0.10,energy_per_output_token_j=0.10")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--clocks", default="800,1400,1980")
    ap.add_argument("--workloads")
    ap.add_argument("--assume", default="0.10,0.03", help="assumed noise CVs to compare")
    ap.add_argument("--targets", nargs="+", default=list(DEFAULT_TARGETS))
    a = ap.parse_args(argv)
    try:
        target_sets = [parse_targets(t) for t in a.targets]
        assumed = [float(v) for v in a.assume.split(",")]
    except (ConfigError, ValueError) as err:
        ap.error(str(err))
    plan = build_plan(a.preset, a.clocks, a.workloads)
    groups = with_measure_defaults(gplan.load_measure_groups(ROOT, plan.config))
    settings = Settings(groups["search"], groups["load"], groups["slo"])
    print(f"preset {a.preset}: {len(plan.cells)} cells, clocks {a.clocks}; simulated "
          f"(virtual time), exact-rate windows, warm search", flush=True)
    t0 = time.monotonic()
    pilot = run_campaign(plan, settings, CampaignPolicy(
        "pilot", RepeatPolicy(fixed=5, targets={}, max_repeats=5), warm_search=True,
        exact_rate=True))
    print(f"pilot (5 repeats): {pilot.gpu_s_held / 3600:.1f} GPU-h, "
          f"{time.monotonic() - t0:.0f} s wall", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "pilot.csv"
        pilot.table.to_csv(table, index=False)
        measured = noise_from_table(table)
    for targets in target_sets:
        load = {**groups["load"], "repeats": None, "ci_targets": targets}  # adaptive
        policy = policy_from_cfg(argparse.Namespace(**load))
        run = run_campaign(plan, Settings(groups["search"], load, groups["slo"]),
                           CampaignPolicy("adaptive", policy, warm_search=True,
                                          exact_rate=True))
        run_h = run.gpu_s_held / 3600
        done = run.table.groupby(["instance_id", "clock_label", "workload_id",
                                  "load_point"])["repeat"].nunique()
        done = done.groupby(level="load_point").mean()
        print(f"\ntargets {','.join(f'{k}={v:g}' for k, v in targets.items())}: adaptive run "
              f"{run_h:.1f} GPU-h; repeats " + ", ".join(f"{k} {v:.1f}" for k, v in done.items())
              + f" (mean per load point); load points {run.point_stops()}")
        over = {"repeats": None, "ci_targets": targets, "max_repeats": load["max_repeats"]}
        for label, noise in [*((f"assumed CV {cv:.0%}", cv) for cv in assumed),
                             ("the pilot's table", measured)]:
            exp = expected_spend(plan, ROOT, warm=True, noise_cv=noise, load_overrides=over)
            reps = ", ".join(f"{k} {v['repeats']:.1f}" for k, v in exp["by_load"].items())
            print(f"  plan at {label:<18} {exp['gpu_h']:>7.1f} GPU-h "
                  f"({exp['gpu_h'] / run_h - 1:+.1%} vs the run); repeats {reps}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
