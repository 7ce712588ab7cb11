"""Can a smooth fit across clocks (and loads) stand in for repeats?

Issue 18's first goal asks for 25 % of the fixed policy's GPU-hours at no wider
intervals. No stopping rule gets there on one point's own repeats (docs/campaign.md:
about 49 % is the floor). The one route left is to borrow strength across the grid: a
point's neighbours at other clocks measure nearly the same thing, so a regression over a
series of points, with k repeats each, may give each point an interval as narrow as 5
repeats of its own, if the regression's form is right.

This benchmark measures that on the simulator. It runs the paper grid once with 5
exact-rate repeats per load point (``greenllm.calibrate.virtual_campaign``, warm search,
as the default policy), then for k = 1, 2, 3 of those repeats it fits, per series,

    log(metric) = X beta + e,    X from x = 1000 / clock MHz and r = log(rate req/s)

and prints each point's 95 % half-width (relative: exp(t SE) - 1) and the **holdout
coverage**: how often the mean log of the point's other 5 - k repeats lies inside the
fit's prediction interval for it, t * s * sqrt(h + 1 / (5 - k)). A right model covers
95 %; a wrong one (bias) covers less, however narrow it reads. ``point`` (no pooling: a
t interval over the point's own k repeats) is the reference for the holdout check.

A series is one (instance, workload, load point) over the clocks (``--scope clock``) or
one (instance, workload) over clocks and load points (``--scope grid``).

    python benchmarks/clock_pooling.py [--preset paper] [--clocks ...] [--workloads ...]
        [--ks 1,2,3] [--no-baseline] [--json out.json]

Simulated numbers (virtual GPU time), no GPU used. The fixed policy's line (5 repeats,
drawn arrivals, cold search: the issue's baseline) needs a second campaign; skip it
with ``--no-baseline``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from campaign_cost import ROOT, build_plan, ci_widths  # noqa: E402

from greenllm import plan as gplan  # noqa: E402
from greenllm.analysis.uncertainty import CI_LEVEL, t_quantile  # noqa: E402
from greenllm.calibrate.virtual_campaign import (  # noqa: E402
    CampaignPolicy,
    Settings,
    run_campaign,
)
from greenllm.measure.adaptive import RepeatPolicy  # noqa: E402
from greenllm.plan.spend_estimate import with_measure_defaults  # noqa: E402

METRICS = ("ttft_p50_s", "tbt_p50_s", "energy_per_output_token_j")
REPEATS = 5
SCOPES = {"clock": ("instance_id", "workload_id", "load_point"),
          "grid": ("instance_id", "workload_id")}
# The regressions tried: terms over x = 1000 / MHz and r = log(rate). Latency and energy
# per token fall roughly as 1/f where the GPU is compute-bound, and rise with the rate.
MODELS = {"clock": ("x", "x x2", "x r", "x x2 r"),
          "grid": ("x r", "x x2 r r2", "x x2 r r2 xr")}


def design(clock_mhz: np.ndarray, rate_rps: np.ndarray, terms: str) -> np.ndarray:
    """The regression's columns: an intercept, then each of ``terms`` (x, x2, r, r2, xr)."""
    x = 1000.0 / np.asarray(clock_mhz, dtype=float)
    r = np.log(np.asarray(rate_rps, dtype=float))
    known = {"x": x, "x2": x * x, "r": r, "r2": r * r, "xr": x * r}
    unknown = set(terms.split()) - set(known)
    if unknown:
        raise ValueError(f"unknown terms {sorted(unknown)}; known: {sorted(known)}")
    return np.column_stack([np.ones_like(x), *(known[t] for t in terms.split())])


def fit(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float, int, np.ndarray]:
    """Least squares: coefficients, residual variance, its degrees of freedom, (X'X)^-1."""
    df = len(y) - x.shape[1]
    if df < 1:
        raise ValueError(f"{len(y)} observations for {x.shape[1]} coefficients")
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    res = y - x @ beta
    return beta, float(res @ res / df), df, np.linalg.pinv(x.T @ x)


def pooled(table: pd.DataFrame, metric: str, k: int, scope: str, terms: str) -> pd.DataFrame:
    """Per load point: the fit's relative half-width from the first k repeats of every
    point in its series, and whether its prediction interval holds the mean log of the
    point's other repeats (``covered``)."""
    rows = []
    for _, series in table.groupby(list(SCOPES[scope]), sort=False):
        used = series[(series["repeat"] < k) & np.isfinite(series[metric])
                      & (series[metric] > 0)]
        try:
            beta, s2, df, inv = fit(np.log(used[metric].to_numpy(float)),
                                    design(used["clock_mhz"], used["rate_rps"], terms))
        except ValueError:
            continue  # too few points for this model: no interval, not a narrow one
        t = t_quantile(CI_LEVEL, df)
        for _, point in series.groupby(["clock_mhz", "load_point"], sort=False):
            own = point[point["repeat"] < k]
            x0 = design(own["clock_mhz"].iloc[:1], own["rate_rps"].iloc[:1], terms)[0]
            h = float(x0 @ inv @ x0)
            rest = np.log(point.loc[point["repeat"] >= k, metric].to_numpy(float))
            rest = rest[np.isfinite(rest)]
            rows.append({"half_width": float(np.expm1(t * np.sqrt(s2 * h))),
                         "covered": (bool(abs(rest.mean() - x0 @ beta)
                                          <= t * np.sqrt(s2 * (h + 1 / rest.size)))
                                     if rest.size else np.nan)})
    return pd.DataFrame(rows, columns=["half_width", "covered"])


def unpooled(table: pd.DataFrame, metric: str, k: int) -> pd.DataFrame:
    """The reference: a t interval over each point's own first k logs, and the same
    holdout check against its other repeats."""
    rows = []
    for _, point in table.groupby(["instance_id", "workload_id", "load_point", "clock_mhz"],
                                  sort=False):
        logs = np.log(point.sort_values("repeat")[metric].to_numpy(float))
        own, rest = logs[:k][np.isfinite(logs[:k])], logs[k:][np.isfinite(logs[k:])]
        if own.size < 2 or not rest.size:
            continue
        s2, t = float(own.var(ddof=1)), t_quantile(CI_LEVEL, own.size - 1)
        rows.append({"half_width": float(np.expm1(t * np.sqrt(s2 / own.size))),
                     "covered": bool(abs(rest.mean() - own.mean())
                                     <= t * np.sqrt(s2 * (1 / own.size + 1 / rest.size)))})
    return pd.DataFrame(rows, columns=["half_width", "covered"])


def campaign(plan: gplan.Plan, settings: Settings, name: str, exact: bool,
             warm: bool):
    policy = RepeatPolicy(fixed=REPEATS, targets={}, max_repeats=REPEATS)
    t0 = time.monotonic()
    result = run_campaign(plan, settings, CampaignPolicy(name, policy, warm_search=warm,
                                                         exact_rate=exact))
    print(f"  {name}: {result.gpu_s_held / 3600:.1f} GPU-h simulated in "
          f"{time.monotonic() - t0:.0f} s wall", flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--clocks", help="comma-separated MHz (default: the preset's)")
    ap.add_argument("--workloads", help="the workload study's workloads (default: preset's)")
    ap.add_argument("--ks", default="1,2,3", help="repeats per point the fits use")
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the fixed policy's campaign (drawn arrivals, cold search)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    ks = [int(k) for k in a.ks.split(",")]
    if any(not 1 <= k < REPEATS for k in ks):
        ap.error(f"--ks must be in 1..{REPEATS - 1} (the rest are the holdout), got {a.ks}")

    plan = build_plan(a.preset, a.clocks, a.workloads)
    groups = with_measure_defaults(gplan.load_measure_groups(ROOT, plan.config))
    settings = Settings(groups["search"], groups["load"], groups["slo"])
    print(f"preset {a.preset}: {len(plan.cells)} cells, clocks {plan.config['clocks']['mhz']};"
          f" simulated (virtual time)", flush=True)
    exact = campaign(plan, settings, "exact-rate, 5 repeats", exact=True, warm=True)
    runs = {"exact-rate, 5 repeats": exact}
    if not a.no_baseline:
        runs["fixed (drawn, cold search)"] = campaign(plan, settings, "fixed", exact=False,
                                                      warm=False)
    table = exact.table
    report: dict = {"per_point_5": {}, "rows": []}
    print("\n95 % half-width, relative (median / max over load points); per point, 5 repeats:")
    for name, run in runs.items():
        w = ci_widths(run.table, METRICS)
        report["per_point_5"][name] = {m: [float(np.nanmedian(w[m])), float(np.nanmax(w[m]))]
                                       for m in METRICS}
        print(f"  {name:<28}" + "".join(f"  {m} {np.nanmedian(w[m]):.2%} / "
                                        f"{np.nanmax(w[m]):.2%}" for m in METRICS))
    window_share = exact.gpu_s_in_windows / exact.gpu_s_held
    print(f"\nk repeats of 5 keep k/5 of the load-point windows ({window_share:.1%} of this "
          f"run's GPU time); probes and starts unchanged.")
    print(f"{'fit':<24}{'k':>2}{'GPU-h share':>12}" + "".join(
        f"{m[:14]:>26}" for m in METRICS) + "   (median / max half-width, holdout coverage)")
    for k in ks:
        share = 1 - window_share * (1 - k / REPEATS)
        fits = [("point (no pooling)", None, None)] if k >= 2 else []
        fits += [(f"{scope}: {terms}", scope, terms) for scope in SCOPES
                 for terms in MODELS[scope]]
        for label, scope, terms in fits:
            cols, row = [], {"fit": label, "k": k, "gpu_h_share_est": share}
            for m in METRICS:
                r = unpooled(table, m, k) if scope is None else pooled(table, m, k, scope,
                                                                        terms)
                med, mx, cov = (r["half_width"].median(), r["half_width"].max(),
                                r["covered"].mean())
                row[m] = {"median": med, "max": mx, "coverage": cov, "points": len(r)}
                cols.append(f"{med:>8.2%} /{mx:>7.2%} {cov:>6.1%}")
            report["rows"].append(row)
            print(f"{label:<24}{k:>2}{share:>12.1%}" + "".join(f"{c:>26}" for c in cols),
                  flush=True)
    if a.json:
        a.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
