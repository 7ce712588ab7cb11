"""What the paper's grid costs under today's fixed policy and under the adaptive one.

Runs every planned instance and cell of a preset (default: paper, 7 instances, 105
cells) on the simulator in virtual time (``greenllm.calibrate.virtual_campaign``), twice:

* fixed: ``load.repeats=5``, the cold max-throughput search at every clock, Poisson
  schedules as drawn (the issue's baseline: the policy before issue 18);
* adaptive: the preset's CI targets and repeat cap (``measure.adaptive``), the
  warm-started search (``search.warm_start``; the first clock's prior is the simulator's
  prediction times ``--prediction-error``, so the simulator is not its own oracle) and
  the preset's ``load.exact_rate`` (``--exact-rate`` / ``--drawn`` override it).
  ``--repeats N`` replaces its targets by a fixed N repeats and ``--window-fraction q``
  makes its load-point windows q times as long: the coverage cuts that reach 25 % of the
  GPU-hours, measured (simulated) instead of estimated.

Prints GPU-hours (virtual GPU time held), GPU time inside measurement windows, probes,
engine starts, why cells stopped, the 95 % CI half-widths reached (relative, per target
metric: median and max over load points), the paper claims' verdicts under each policy,
``greenllm plan``'s expected GPU-hours for the adaptive policy beside the adaptive run's,
and whether the issue's goals hold:

* adaptive GPU-hours <= 25 % of fixed, no adaptive CI wider than the fixed policy's median
  width, no claim verdict changed;
* >= 85 % of GPU time held is inside measurement windows.

    python benchmarks/campaign_cost.py [--preset paper] [--clocks 800,1400,1980]
        [--workloads S-S,M-M] [--prediction-error 1.3] [--targets ttft_p50_s=0.05,...]
        [--cap 5] [--stop-per point|cell] [--noise-cv 0.10] [--exact-rate | --drawn]
        [--repeats 3] [--window-fraction 0.5] [--json out.json]

Simulated numbers: no GPU is used; the simulator's repeats differ only by their arrival
draws (no thermal drift), so its intervals are narrower than on hardware.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from greenllm import plan as gplan
from greenllm.analysis.claims import compute_claims
from greenllm.analysis.statistics import statistics_table
from greenllm.analysis.studies import parse_study
from greenllm.calibrate.virtual_campaign import CampaignPolicy, Settings, run_campaign
from greenllm.measure.adaptive import RepeatPolicy, policy_from_cfg
from greenllm.plan.spend_estimate import expected_spend, with_measure_defaults

ROOT = Path(__file__).resolve().parents[1]


def shortened(load: Mapping[str, object], fraction: float) -> dict[str, object]:
    """The ``load`` group (merged over ``LoadCfg``'s defaults: ``with_measure_defaults``)
    with every load-point window ``fraction`` times as long."""
    if not 0 < fraction <= 1:
        raise ValueError(f"--window-fraction must be in (0, 1], got {fraction}")
    out = dict(load)
    out["requests_per_point"] = max(2, round(int(load["requests_per_point"]) * fraction))
    out["min_duration_s"] = float(load["min_duration_s"]) * fraction
    out["max_duration_s"] = float(load["max_duration_s"]) * fraction
    return out


def build_plan(preset: str, clocks: str | None, workloads: str | None) -> gplan.Plan:
    cfg = {"preset": preset, "engine": "sim"}
    if clocks:
        cfg["clocks"] = {"mode": "pin", "mhz": [int(c) for c in clocks.split(",")]}
    plan = gplan.plan_from_config(cfg, ROOT)
    if workloads:
        studies = dict(plan.config["studies"])
        wl = studies.get("workload")
        if wl:
            studies["workload"] = {**wl, "workloads": workloads.split(",")}
        plan = gplan.build_plan({**plan.config, "studies": studies})
    return plan


def ci_widths(table, metrics) -> dict[str, np.ndarray]:
    stats = statistics_table(table)
    out = {}
    for m in metrics:
        lo, hi, med = stats[f"{m}_ci_lo"], stats[f"{m}_ci_hi"], stats[m]
        out[m] = ((hi - lo) / 2 / med.abs()).to_numpy(dtype=float)
    return out


def verdicts(table, plan) -> dict[str, str]:
    studies = {name: parse_study(name, d) for name, d in plan.studies_dict().items()
               if name in gplan.STUDY_NAMES}
    claims = compute_claims(table, studies)
    return dict(zip(claims["claim_id"], claims["verdict"], strict=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--clocks", help="comma-separated MHz (default: the preset's)")
    ap.add_argument("--workloads", help="the workload study's workloads (default: preset's)")
    ap.add_argument("--prediction-error", type=float, default=1.3)
    ap.add_argument("--noise-cv", type=float, default=0.10,
                    help="the noise greenllm plan assumes for its expected repeats")
    ap.add_argument("--targets", help="adaptive CI targets, metric=width,... (default: preset's)")
    ap.add_argument("--cap", type=int, help="adaptive repeat cap (default: preset's)")
    ap.add_argument("--stop-per", choices=("point", "cell"),
                    help="adaptive: each load point stops on its own targets (point, "
                         "load.stop_per's default) or a cell waits for all its points (cell)")
    arrivals = ap.add_mutually_exclusive_group()
    arrivals.add_argument("--exact-rate", dest="exact_rate", action="store_const", const=True,
                          help="the adaptive policy's probes and load points send at exactly "
                               "their nominal rate (load.exact_rate=true, the preset's default "
                               "since 2026-12-07)")
    arrivals.add_argument("--drawn", dest="exact_rate", action="store_const", const=False,
                          help="the adaptive policy sends its Poisson schedules as drawn "
                               "(load.exact_rate=false, the default before 2026-12-07); the "
                               "fixed policy, the issue's baseline, always does")
    ap.add_argument("--repeats", type=int,
                    help="the second policy repeats every point N times instead of stopping on "
                         "CI targets (a fixed cut, e.g. 3)")
    ap.add_argument("--window-fraction", type=float,
                    help="the second policy's load-point windows this many times as long "
                         "(requests, min and max duration; e.g. 0.5)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        ap.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.window_fraction is not None and not 0 < args.window_fraction <= 1:
        ap.error(f"--window-fraction must be in (0, 1], got {args.window_fraction}")

    plan = build_plan(args.preset, args.clocks, args.workloads)
    groups = with_measure_defaults(gplan.load_measure_groups(ROOT, plan.config))
    settings = Settings(groups["search"], groups["load"], groups["slo"])
    if args.targets:
        groups["load"]["ci_targets"] = {k: float(v) for k, _, v in
                                        (i.partition("=") for i in args.targets.split(","))}
    if args.cap:
        groups["load"]["max_repeats"] = args.cap
    if args.stop_per:
        groups["load"]["stop_per"] = args.stop_per
    adaptive = policy_from_cfg(argparse.Namespace(**groups["load"]))
    metrics = list(adaptive.targets)
    cand = "adaptive"  # the second policy's name
    if args.repeats is not None:
        adaptive, cand = RepeatPolicy(fixed=args.repeats, targets={},
                                      max_repeats=args.repeats), f"repeats={args.repeats}"
    second = settings
    if args.window_fraction is not None and args.window_fraction < 1:
        second = Settings(groups["search"], shortened(groups["load"], args.window_fraction),
                          groups["slo"])
        cand += f", windows x{args.window_fraction:g}"
    if args.exact_rate is None:  # neither flag: the preset's load.exact_rate (or LoadCfg's)
        args.exact_rate = bool(groups["load"]["exact_rate"])
    fixed = RepeatPolicy(fixed=5, targets={}, max_repeats=5)
    policies = [(CampaignPolicy("fixed", fixed, warm_search=False), settings),
                (CampaignPolicy(cand, adaptive, warm_search=True,
                                prediction_error=args.prediction_error,
                                exact_rate=args.exact_rate), second)]
    print(f"preset {args.preset}: {len(plan.instances)} instances, {len(plan.cells)} cells, "
          f"clocks {plan.config['clocks']['mhz']}; simulated (virtual time)"
          + (f"; {cand} sends at exact rates" if args.exact_rate else ""), flush=True)
    results = {}
    for pol, pol_settings in policies:
        t0 = time.monotonic()
        results[pol.name] = run_campaign(plan, pol_settings, pol)
        print(f"  {pol.name}: simulated in {time.monotonic() - t0:.0f} s wall", flush=True)
    widths = {name: ci_widths(r.table, metrics) for name, r in results.items()}
    claims = {name: verdicts(r.table, plan) for name, r in results.items()}
    changed = [c for c in claims["fixed"] if claims["fixed"][c] != claims[cand][c]]
    expected = expected_spend(plan, ROOT, warm=True, noise_cv=args.noise_cv,
                              load_overrides={k: groups["load"][k]
                                              for k in ("ci_targets", "max_repeats")})

    report: dict = {"preset": args.preset, "cells": len(plan.cells),
                    "exact_rate": args.exact_rate, "policies": {}}
    width = max(10, len(cand) + 2)
    print(f"\n{'policy':<{width}}{'GPU-h':>9}{'in windows':>12}{'probes':>8}{'starts':>8}"
          f"{'repeats':>9}  stops")
    for name, r in results.items():
        share = r.gpu_s_in_windows / r.gpu_s_held
        repeats = sum(run.ledger.repeats for run in r.runs)
        print(f"{name:<{width}}{r.gpu_s_held / 3600:>9.1f}{share:>12.1%}{r.probes:>8}"
              f"{r.engine_starts:>8}{repeats:>9}  {r.stops()}; load points "
              f"{r.point_stops()}")
        report["policies"][name] = {
            "gpu_h": r.gpu_s_held / 3600, "gpu_h_in_windows": r.gpu_s_in_windows / 3600,
            "fraction_in_windows": share, "probes": r.probes, "engine_starts": r.engine_starts,
            "repeats": repeats, "stops": r.stops(), "point_stops": r.point_stops(),
            "ci_half_width": {m: {"median": float(np.nanmedian(w)), "max": float(np.nanmax(w))}
                              for m, w in widths[name].items()},
            "verdicts": claims[name]}
    print("\n95 % CI half-width, relative to the median (median / max over load points):")
    ci_ok = True
    for m in metrics:
        f, a = widths["fixed"][m], widths[cand][m]
        bound = float(np.nanmedian(f))
        ok = bool(np.nanmax(a) <= bound)
        ci_ok &= ok
        print(f"  {m:<28} fixed {np.nanmedian(f):.2%} / {np.nanmax(f):.2%}   {cand} "
              f"{np.nanmedian(a):.2%} / {np.nanmax(a):.2%}   "
              f"{'ok' if ok else 'WIDER than the fixed median'}")
    print(f"\nclaim verdicts: {len(claims['fixed'])} claims, {len(changed)} changed"
          + (f" ({', '.join(changed)})" if changed else ""))
    for c in claims["fixed"]:
        print(f"  {c:<40} fixed {claims['fixed'][c]:<8} {cand} {claims[cand][c]}")
    fx, ad = results["fixed"], results[cand]
    ratio = ad.gpu_s_held / fx.gpu_s_held
    share = ad.gpu_s_in_windows / ad.gpu_s_held
    plan_h = expected["gpu_h"]
    agree = abs(plan_h - ad.gpu_s_held / 3600) / (ad.gpu_s_held / 3600)
    if cand == "adaptive":  # greenllm plan prices the adaptive policy at full windows
        print(f"\ngreenllm plan (expected, adaptive policy): {plan_h:.1f} GPU-h vs the run's "
              f"{ad.gpu_s_held / 3600:.1f} GPU-h ({agree:.0%} apart; goal <= 20 %)")
    goal1 = ratio <= 0.25 and ci_ok and not changed
    goal2 = share >= 0.85
    print(f"goal 1: {cand} uses {ratio:.1%} of the fixed policy's GPU-hours (<= 25 %), "
          f"CIs {'ok' if ci_ok else 'WIDER'}, {len(changed)} verdicts changed: "
          f"{'MET' if goal1 else 'NOT MET'}")
    print(f"goal 2: {share:.1%} of {cand} GPU time held is inside measurement windows "
          f"(>= 85 %): {'MET' if goal2 else 'NOT MET'}")
    report.update({"candidate": cand, "ratio": ratio, "changed_verdicts": changed, "ci_ok": ci_ok,
                   "plan_expected_gpu_h": plan_h, "plan_vs_run": agree,
                   "goal1": goal1, "goal2": goal2})
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=lambda o: None
                                        if isinstance(o, float) and math.isnan(o) else str(o)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
