"""``greenllm claims``: the paper's quantitative statements vs the cells table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from greenllm.analysis.aggregate import load_table
from greenllm.analysis.claims import check_out, compute_claims, write_claims
from greenllm.analysis.studies import parse_studies, read_json_arg
from greenllm.ownership import check_report_files, claim_report_files


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "claims",
        help="compare the paper's claims with the measurements",
        description="Check each quantitative statement of the paper against the cells "
        "table; writes --out (.md) and a .csv beside it.",
    )
    p.add_argument("--table", required=True, metavar="PARQUET",
                   help="results/tables/cells.parquet")
    p.add_argument("--studies", required=True, metavar="JSON",
                   help='all studies as JSON (or @file): {"workload": {...}, "tp": {...}, '
                   '"batch": {...}, "clocks": [...], "model": ...}')
    p.add_argument("--out", required=True, metavar="MD", help="reports/claims.md")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(check_out(args.out))
    reports = [out, out.with_suffix(".csv")]
    check_report_files(reports)  # never over a file greenllm didn't write
    studies = parse_studies(read_json_arg(args.studies, "--studies"))
    claims = compute_claims(load_table(args.table), studies)
    claim_report_files(reports)
    md, csv = write_claims(claims, args.out)
    counts = claims["verdict"].value_counts()
    summary = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    print(f"greenllm claims: {len(claims)} claims ({summary}) -> {md} (+ {csv.name})",
          file=sys.stderr)
    return 0
