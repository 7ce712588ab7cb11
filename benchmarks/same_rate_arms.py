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

from greenllm.analysis.uncertainty import coefficient_of_variation  # noqa: E402
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


def parse_arm(arg: str) -> tuple[str, dict[tuple[str, str], list[float]]]:
    """``RAW`` or ``NAME=RAW,RAW...``: the arm's name and its values, runs pooled."""
    name, sep, raws = arg.partition("=")
    paths = raws.split(",") if sep else [arg]
    if sep and (not name or not all(paths)):
        raise SystemExit(f"same_rate_arms: {arg!r} is not NAME=RAW[,RAW...]")
    pooled: dict[tuple[str, str], list[float]] = {}
    for raw in paths:
        for key, vals in arm_values(summaries(Path(raw))).items():
            pooled.setdefault(key, []).extend(vals)
    return (name if sep else arm_name(arg)), pooled


def welch_z(a: Sequence[float], b: Sequence[float]) -> float:
    """(mean a - mean b) / its standard error; nan below two values in either."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    diff = statistics.fmean(a) - statistics.fmean(b)
    return diff / se if se > 0 else math.nan


def compare(arms: Mapping[str, Mapping[tuple[str, str], list[float]]]) -> list[dict[str, Any]]:
    """One row per (load point, metric, arm), each against the first arm."""
    names = list(arms)
    first = arms[names[0]]
    rows = []
    for key in sorted(first, key=lambda k: (k[0], list(METRICS).index(k[1]))):
        ref = first[key]
        for name in names:
            vals = arms[name].get(key)
            if not vals:
                continue
            mean = statistics.fmean(vals)
            rows.append({
                "point": key[0], "metric": key[1], "arm": name, "n": len(vals), "mean": mean,
                "cv": coefficient_of_variation(vals),
                "half_width": relative_half_width(vals),
                "vs_first": mean / statistics.fmean(ref) - 1 if name != names[0] else None,
                "diff_se": welch_z(vals, ref) if name != names[0] else None,
            })
    return rows


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    arms = dict(parse_arm(arg) for arg in argv)
    first = next(iter(arms))
    w = max(5, *(len(a) for a in arms))
    print(f"first arm: {first} (the ratio and diff/SE columns are against it)")
    print(f"{'point':6s} {'metric':28s} {'arm':{w}s} {'n':>3s} {'mean':>10s} {'CV':>7s} "
          f"{'95% hw':>7s} {'vs first':>9s} {'diff/SE':>8s}")
    for r in compare(arms):
        hw = "-" if r["half_width"] is None else f"{100 * r['half_width']:.1f}%"
        vs = "" if r["vs_first"] is None else f"{100 * r['vs_first']:+.1f}%"
        z = "" if r["diff_se"] is None else f"{r['diff_se']:+.2f}"
        print(f"{r['point']:6s} {r['metric']:28s} {r['arm']:{w}s} {r['n']:3d} {r['mean']:10.4g} "
              f"{100 * r['cv']:6.1f}% {hw:>7s} {vs:>9s} {z:>8s}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
