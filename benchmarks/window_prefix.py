"""What shorter windows would read, measured inside full ones (no engine start between).

A load-point window of N requests starts on an idle engine (the previous window has
drained). Its first q*N requests are what a window q times as long would send at the same
rate, and their time to first token does not depend on requests sent after them. So the
TTFT p50 of each window's first q*N requests against the whole window's, averaged over
the windows of a load point, is the window-length bias of TTFT *inside one engine start*:
no start-to-start offset enters it, where ``same_rate_arms.py`` compares arms measured in
separate vLLM starts (each with its own offset: docs/campaign.md).

TBT is printed too, but reads only half of the bias: the prefix's requests still share
their batch with the later ones, where a short window's last requests decode in a draining
batch. Energy is not cut at all (the prefix shares the GPU with later requests).

    python benchmarks/window_prefix.py RAW [RAW ...] [--fraction 0.5]

RAW: a measure run's ``out_dir`` or a ``.tgz`` of one, with its request tables
(``cells/*/*/requests.r*.parquet``; ``tools/device/same-rate-arms.sh`` packs them since
2026-12-08). Per load point: the windows read, and prefix / whole for TTFT p50 and TBT p50
as the mean of the per-window log ratios, with its SE over windows (a t(n-1) of 2-3 is
the noise of a few windows, not an effect); where several runs hold the same load point,
a ``pooled`` row takes every window of all of them.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from energy_estimators import run_folder  # noqa: E402

from greenllm.load.metrics import compute_metrics  # noqa: E402

METRICS = {"TTFT p50": "ttft_s", "TBT p50": "tbt_s"}
_REPEAT = re.compile(r"requests\.r(\d+)\.parquet$")


def request_tables(raw: Path) -> Iterator[tuple[str, str, int, pd.DataFrame]]:
    """(run, workload, repeat, requests frame) of every request table under ``raw`` (a run's
    folder, a folder of runs, or a .tgz of either); a run is the folder holding ``cells``."""
    with run_folder(raw) as folder:
        found = sorted(folder.rglob("cells/*/*/requests.r*.parquet"))
        if not found:
            raise SystemExit(f"{raw}: no cells/*/*/requests.r*.parquet (a run packed without "
                             "its request tables?)")
        for path in found:
            m = _REPEAT.search(path.name)
            yield (path.parents[3].name, path.parent.name, int(m.group(1)) if m else 0,
                   pd.read_parquet(path))


def load_point_windows(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(load point name, its requests in send order); max-throughput probes are left out."""
    for name, rows in frame.groupby("point", sort=True):
        if not str(name).startswith("probe"):
            yield str(name), rows.sort_values("scheduled_offset_s", kind="stable")


def prefix_ratios(window: pd.DataFrame, fraction: float) -> dict[str, float]:
    """ln(prefix / whole) of each metric's p50; nan where either has no value."""
    k = math.ceil(fraction * len(window))
    out = {}
    whole, prefix = compute_metrics(window), compute_metrics(window.iloc[:k])
    for label, attr in METRICS.items():
        a, b = getattr(prefix, attr).get("p50"), getattr(whole, attr).get("p50")
        out[label] = math.log(a / b) if a and b and a > 0 and b > 0 else math.nan
    return out


def point_rows(raws: list[Path], fraction: float) -> list[dict[str, Any]]:
    """One row per (run, workload, load point, metric): windows, mean ratio (as a relative
    shift), t = mean log ratio over its SE; plus ``pooled (N runs)`` rows."""
    ratios: dict[tuple[str, str, str, str], list[float]] = {}
    for raw in raws:
        for run, workload, _, frame in request_tables(raw):
            for point, window in load_point_windows(frame):
                if len(window) < 4:
                    continue
                for metric, v in prefix_ratios(window, fraction).items():
                    if math.isfinite(v):
                        ratios.setdefault((run, workload, point, metric), []).append(v)
    runs_of: dict[tuple[str, str, str], list[str]] = {}
    for run, workload, point, metric in ratios:
        runs_of.setdefault((workload, point, metric), []).append(run)
    for (workload, point, metric), runs in runs_of.items():
        if len(runs) > 1:  # several starts: every window of every run, equally weighted
            ratios[(f"pooled ({len(runs)} runs)", workload, point, metric)] = [
                v for run in runs for v in ratios[(run, workload, point, metric)]]
    rows = []
    for (run, workload, point, metric), vals in sorted(ratios.items()):
        mean = statistics.fmean(vals)
        se = statistics.stdev(vals) / math.sqrt(len(vals)) if len(vals) >= 2 else math.nan
        rows.append({"run": run, "workload": workload, "point": point, "metric": metric,
                     "windows": len(vals), "shift": math.expm1(mean),
                     "t": mean / se if se > 0 else math.nan})
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raws", nargs="+", type=Path, metavar="RAW")
    parser.add_argument("--fraction", type=float, default=0.5,
                        help="the shorter window's length as a fraction of the measured one")
    args = parser.parse_args(argv)
    if not 0 < args.fraction < 1:
        parser.error(f"--fraction must lie in (0, 1), got {args.fraction}")
    rows = point_rows(args.raws, args.fraction)
    if not rows:
        raise SystemExit("no load-point window of 4 or more requests")
    w = max(len(r["run"]) for r in rows)
    print(f"first {args.fraction:g} of each window against the whole window (one engine start)")
    print(f"{'run':{w}s} {'workload':8s} {'point':8s} {'metric':9s} {'windows':>7s} "
          f"{'prefix/whole':>12s} {'t':>6s}")
    for r in rows:
        t = "" if not np.isfinite(r["t"]) else f"{r['t']:+.2f}"
        print(f"{r['run']:{w}s} {r['workload']:8s} {r['point']:8s} {r['metric']:9s} "
              f"{r['windows']:7d} {100 * r['shift']:+11.1f}% {t:>6s}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
