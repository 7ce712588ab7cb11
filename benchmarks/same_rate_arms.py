"""The same absolute load under several measurement conventions, side by side.

Reads measure runs made at the same ``load.rates_rps`` (``tools/device/same-rate-arms.sh``:
exact-rate windows, windows as drawn, quarter-length windows) and prints, per rate and
metric, each arm's mean over its repeats, CV, the 95 % half-width greenllm's adaptive
policy computes (``measure.adaptive.relative_half_width``), and against the first arm:
the ratio of means and their difference over its standard error (Welch). A convention
that changes what is measured moves the mean by several SE; one that only changes the
noise moves the CV.

    python benchmarks/same_rate_arms.py RAW_DIR [RAW_DIR ...]
    python benchmarks/same_rate_arms.py exact=RAW_A,RAW_C half=RAW_B   # pooled arms

RAW_DIR: a measure run's ``out_dir`` or a ``.tgz`` of one; the arm is named by the part
of the folder's name after ``arm_`` (else the whole name). ``NAME=RAW,RAW...`` names an
arm and pools the repeats of several runs into it. Arms that ran one after the other,
each with its own engine start, confound the convention with drift: a difference of 1-2
SE is not an effect. Running one arm before and after the other (A B A) and pooling the
two A runs takes a linear drift out of the comparison.

Each run is one engine start, and a start is not a repeat: on the lent H100 two starts of
the same arm read TBT p50 5-9 % apart (reports/reference/h100-2026-12-08-half-windows),
more than the repeats inside either start let the Welch SE expect. So where an arm pools
two or more runs, the script also compares the arms start by start: each run's mean is one
observation, the spread of run means inside the arms (pooled over arms, ``df`` = runs -
arms) is the start-to-start noise, printed as ``start CV``, and ``diff/SE st`` is the
difference of the arms' run means over that noise. With few starts its df is small, so a
value needs a t(df) quantile, not 2, to count (t(1) = 12.7, t(2) = 4.3 at 95 %).
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from energy_estimators import summaries  # noqa: E402

from greenllm.analysis.uncertainty import coefficient_of_variation, t_quantile  # noqa: E402
from greenllm.measure.adaptive import relative_half_width  # noqa: E402

METRICS = {  # column -> how to read it from a summary's load point
    "energy per output token (J)": lambda lp: (lp.get("energy") or {}).get("energy_per_output_token_j"),
    "mean power (W)": lambda lp: (lp.get("energy") or {}).get("power_mean_w"),
    "TTFT p50 (ms)": lambda lp: _ms((lp.get("ttft_s") or {}).get("p50")),
    "TBT p50 (ms)": lambda lp: _ms((lp.get("tbt_s") or {}).get("p50")),
}


def _ms(v: Any) -> float | None:
    return None if v is None else 1000.0 * float(v)


def arm_name(raw: str) -> str:
    name = Path(raw).name.removesuffix(".tgz").removesuffix(".tar.gz")
    return name.split("arm_", 1)[1] if "arm_" in name else name


def arm_values(cells: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[float]]:
    """(load point name, metric) -> the values over the repeats, from cell summaries."""
    out: dict[tuple[str, str], list[float]] = {}
    for summary in cells:
        for lp in sorted(summary.get("load_points") or [], key=lambda p: p.get("repeat", 0)):
            for metric, read in METRICS.items():
                v = read(lp)
                if isinstance(v, int | float) and math.isfinite(v):
                    out.setdefault((str(lp.get("name")), metric), []).append(float(v))
    return out


Values = dict[tuple[str, str], list[float]]


def parse_runs(arg: str) -> tuple[str, list[Values]]:
    """``RAW`` or ``NAME=RAW,RAW...``: the arm's name and each run's values, in order."""
    name, sep, raws = arg.partition("=")
    paths = raws.split(",") if sep else [arg]
    if sep and (not name or not all(paths)):
        raise SystemExit(f"same_rate_arms: {arg!r} is not NAME=RAW[,RAW...]")
    return (name if sep else arm_name(arg)), [arm_values(summaries(Path(raw))) for raw in paths]


def pooled(runs: Sequence[Values]) -> Values:
    out: Values = {}
    for run in runs:
        for key, vals in run.items():
            out.setdefault(key, []).extend(vals)
    return out


def parse_arm(arg: str) -> tuple[str, Values]:
    """``RAW`` or ``NAME=RAW,RAW...``: the arm's name and its values, runs pooled."""
    name, runs = parse_runs(arg)
    return name, pooled(runs)


def start_spread(run_means: Mapping[str, Sequence[float]]) -> tuple[float, int]:
    """Start-to-start SD of a run's mean, pooled inside the arms, and its df.

    ``run_means``: arm -> the mean of each of its runs (engine starts). Arms with one run
    add nothing; (nan, 0) when no arm has two."""
    ss, df = 0.0, 0
    for means in run_means.values():
        if len(means) >= 2:
            m = statistics.fmean(means)
            ss += sum((x - m) ** 2 for x in means)
            df += len(means) - 1
    return (math.sqrt(ss / df), df) if df else (math.nan, 0)


def start_z(a: Sequence[float], b: Sequence[float], sd: float) -> float:
    """(mean of a's run means - b's) over the start-to-start SE; nan without a spread."""
    if not a or not b or not math.isfinite(sd) or sd <= 0:
        return math.nan
    return (statistics.fmean(a) - statistics.fmean(b)) / (sd * math.sqrt(1 / len(a) + 1 / len(b)))


def welch_z(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean a - mean b) / its standard error; nan below two values in either."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    diff = statistics.fmean(a) - statistics.fmean(b)
    return diff / se if se > 0 else math.nan


def compare(arms: Mapping[str, Mapping[tuple[str, str], list[float]]],
            runs: Mapping[str, Sequence[Values]] | None = None) -> list[dict[str, Any]]:
    """One row per (load point, metric, arm), each against the first arm.

    ``runs`` (arm -> its runs' values, as ``parse_runs`` gives) adds the start-by-start
    comparison: ``starts``, ``start_cv`` (start-to-start SD over the first arm's mean),
    ``start_df`` and ``diff_se_start``; nan where no arm has two runs."""
    names = list(arms)
    first = arms[names[0]]
    rows = []
    for key in sorted(first, key=lambda k: (k[0], list(METRICS).index(k[1]))):
        ref = first[key]
        run_means = {name: [statistics.fmean(r[key]) for r in (runs or {}).get(name, ()) if r.get(key)]
                     for name in names}
        sd, df = start_spread(run_means)
        for name in names:
            vals = arms[name].get(key)
            if not vals:
                continue
            mean = statistics.fmean(vals)
            other = name != names[0]
            rows.append({
                "point": key[0], "metric": key[1], "arm": name, "n": len(vals), "mean": mean,
                "cv": coefficient_of_variation(vals),
                "half_width": relative_half_width(vals),
                "vs_first": mean / statistics.fmean(ref) - 1 if other else None,
                "diff_se": welch_z(vals, ref) if other else None,
                "starts": len(run_means[name]) or None,
                "start_cv": sd / statistics.fmean(ref) if df else math.nan,
                "start_df": df,
                "diff_se_start": (start_z(run_means[name], run_means[names[0]], sd)
                                  if other else None),
            })
    return rows


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    runs = dict(parse_runs(arg) for arg in argv)
    arms = {name: pooled(r) for name, r in runs.items()}
    first = next(iter(arms))
    w = max(5, *(len(a) for a in arms))
    rows = compare(arms, runs)
    by_start = any(r["start_df"] for r in rows)
    print(f"first arm: {first} (the ratio and diff/SE columns are against it)")
    head = (f"{'point':6s} {'metric':28s} {'arm':{w}s} {'n':>3s} {'mean':>10s} {'CV':>7s} "
            f"{'95% hw':>7s} {'vs first':>9s} {'diff/SE':>8s}")
    print(head + (f" {'starts':>6s} {'start CV':>8s} {'diff/SE st':>10s}" if by_start else ""))
    for r in rows:
        hw = "-" if r["half_width"] is None else f"{100 * r['half_width']:.1f}%"
        vs = "" if r["vs_first"] is None else f"{100 * r['vs_first']:+.1f}%"
        z = "" if r["diff_se"] is None else f"{r['diff_se']:+.2f}"
        line = (f"{r['point']:6s} {r['metric']:28s} {r['arm']:{w}s} {r['n']:3d} {r['mean']:10.4g} "
                f"{100 * r['cv']:6.1f}% {hw:>7s} {vs:>9s} {z:>8s}")
        if by_start:
            zs = r["diff_se_start"]
            zs_text = "" if zs is None or not math.isfinite(zs) else f"{zs:+.2f}"
            line += f" {r['starts'] or 0:6d} {100 * r['start_cv']:7.1f}% {zs_text:>10s}"
        print(line)
    if by_start:
        df = max(r["start_df"] for r in rows)
        print(f"diff/SE st: arms compared start by start, run means over their start-to-start "
              f"spread (df = {df}; 95 % needs |t| > {t_quantile(0.95, df):.2f})")
    else:
        print("one engine start per arm: diff/SE counts repeats only and cannot see a start's "
              "offset (NAME=RAW,RAW pools starts and compares them)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
