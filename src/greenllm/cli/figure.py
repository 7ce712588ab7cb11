"""``greenllm figure``: draw one paper figure from the cells table (PDF + PNG)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from greenllm.analysis.aggregate import load_table
from greenllm.analysis.studies import read_json_arg, study_for
from greenllm.errors import ConfigError
from greenllm.figures.knob_axis import X_AXES
from greenllm.figures.registry import EXTRA_FIGURES, FIGURES, get_figure, render_to
from greenllm.figures.values import PERCENTILES
from greenllm.ownership import check_report_files, claim_report_files


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "figure",
        help="draw one of the paper's figures (or --list them)",
        description="Draw a figure (id like fig06, or its file stem) from the cells table "
        "for a study given as JSON; writes --out (.pdf) and the .png beside it. A figure "
        "without usable rows becomes a placeholder page (reported on stderr).",
    )
    p.add_argument("figure", nargs="?", help="figure id (fig01 … fig15) or file stem")
    p.add_argument("--list", action="store_true", help="list id, stem, study and caption")
    p.add_argument("--table", metavar="PARQUET", help="results/tables/cells.parquet")
    p.add_argument("--study", metavar="JSON",
                   help="the figure's study as JSON (or @file), with clocks and model")
    p.add_argument("--out", metavar="PDF", help="reports/figures/<stem>.pdf")
    p.add_argument("--percentile", default="p50", choices=PERCENTILES,
                   help="latency percentile for TTFT/TBT figures (default p50)")
    p.add_argument("--x", default="sm_clock", choices=X_AXES,
                   help="the knob on the x axis of fig01-fig15: sm_clock (default) or "
                   "power_limit (the cells p<W> of a power-limit sweep)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for spec in [*FIGURES.values(), *EXTRA_FIGURES.values()]:
            print(f"{spec.fig_id}\t{spec.stem}\t{spec.study}\t{spec.caption}")
        return 0
    lacking = [f"--{k}" for k in ("table", "study", "out") if not getattr(args, k)]
    if not args.figure:
        lacking.insert(0, "a figure id")
    if lacking:
        raise ConfigError(f"greenllm figure needs {', '.join(lacking)} (or --list)")
    spec = get_figure(args.figure)
    if not args.out.endswith(".pdf"):
        raise ConfigError(f"--out must name a .pdf file, got {args.out}")
    reports = [Path(args.out), Path(args.out).with_suffix(".png")]
    check_report_files(reports)  # never over a file greenllm didn't write
    study = study_for(spec.study, read_json_arg(args.study, "--study"))
    table = load_table(args.table)
    claim_report_files(reports)
    x = args.x if spec.fig_id in FIGURES else "sm_clock"  # extras choose their own axes
    rendered = render_to(spec, table, study, args.out, percentile=args.percentile, x=x)
    prefix = f"greenllm figure: {spec.fig_id}"
    if rendered.placeholder:
        print(f"{prefix}: no usable rows: {rendered.placeholder_reason}; wrote a placeholder "
              f"page to {args.out}", file=sys.stderr)
    else:
        print(f"{prefix}: {len(rendered.data)} rows -> {args.out} (+ .png)", file=sys.stderr)
    for note in rendered.notes:
        print(f"{prefix}: {note}", file=sys.stderr)
    return 0
