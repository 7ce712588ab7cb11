"""The workflow's per-cell output: a byte copy of the raw summary a measure run wrote.

``python -m greenllm.cell_copy SUMMARY DEST LOG`` (the ``cell`` rule's shell command).
A ``shell:`` rule and not a ``run:`` block: Snakemake spawns every ``run:`` job as a new
Snakemake process that parses the whole workflow again (seconds each; 105 cells for
the paper grid), while this starts only a bare Python. The log says the cell's status,
so failed cells are easy to find (grep failed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from greenllm.atomic import write_bytes, write_text


def copy_cell(summary: str, dest: str, log: str) -> None:
    src = Path(summary)
    if not src.is_file():
        raise SystemExit(f"{src} missing: the measure run did not record this cell; "
                         "rerun it with --forcerun measure (ok cells are skipped)")
    data = src.read_bytes()
    try:
        record = json.loads(data)
        status, error = record.get("status", "?"), record.get("error")
    except (ValueError, AttributeError):
        status, error = "unreadable", "summary.json is not a JSON object"
    write_bytes(dest, data)
    write_text(log, f"{src} -> {dest}: status {status}" + (f": {error}" if error else "") + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit("usage: python -m greenllm.cell_copy SUMMARY DEST LOG")
    copy_cell(*sys.argv[1:])
