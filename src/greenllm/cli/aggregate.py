"""``greenllm aggregate``: cell summaries -> results/tables/cells.parquet (+ .csv, <stem>.sanity.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from greenllm.analysis.aggregate import DEFAULT_CV_FLAG, aggregate
from greenllm.analysis.flatten import CELL_KEY
from greenllm.ownership import claim_report_files


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "aggregate",
        help="collect cell summaries into one tidy table",
        description="Read cell summary.json files (or directories, searched recursively) "
        "into one row per (instance, clock, workload, load point); writes the parquet "
        "table, a CSV twin and <stem>.sanity.md beside it.",
    )
    p.add_argument("--cells", nargs="+", required=True, metavar="PATH",
                   help="summary.json files or directories holding them")
    p.add_argument("--out", required=True, metavar="PARQUET",
                   help="output table, e.g. results/tables/cells.parquet")
    p.add_argument("--cv-flag", type=float, default=DEFAULT_CV_FLAG, metavar="CV",
                   help="flag load points whose coefficient of variation over repeats "
                   f"exceeds CV as high_spread (default {DEFAULT_CV_FLAG})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    def progress(msg: str) -> None:
        print(f"greenllm aggregate: {msg}", file=sys.stderr)

    out = Path(args.out)
    # Never over files greenllm did not write (greenllm.ownership).
    tables = [out, out.with_suffix(".csv"), out.with_name(f"{out.stem}.summary.parquet"),
              out.with_name(f"{out.stem}.summary.csv"), out.with_name(f"{out.stem}.sanity.md")]
    claim_report_files(tables)
    agg = aggregate(args.cells, args.out, progress=progress, cv_flag=args.cv_flag)
    cells = agg.table.drop_duplicates(list(CELL_KEY))
    failed = int((cells["status"] != "ok").sum())
    simulated = int(cells["simulated"].sum())
    progress(
        f"{len(cells)} cells ({failed} not ok, {simulated} simulated), {len(agg.table)} rows "
        f"-> {args.out} (+ .csv, <stem>.summary.parquet/.csv: medians and CIs over repeats, "
        "<stem>.sanity.md)"
    )
    if failed:
        progress(f"{failed} cells not ok kept as rows with their status (failed or "
                 f"no_max_throughput): see {Path(args.out).stem}.sanity.md")
    return 0
