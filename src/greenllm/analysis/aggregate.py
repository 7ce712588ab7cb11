"""Cell summaries -> one tidy table (parquet + CSV) and a sanity report.

One row per (instance, clock, workload, load point); see ``flatten.COLUMNS``. The same cell
may be found twice (the raw ``summary.json`` and Snakemake's per-cell copy): identical
copies count once; differing ones keep the most recently finished and are reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from greenllm.analysis.cells import find_cell_files, load_summary
from greenllm.analysis.flatten import COLUMNS, coerce_table, rows_to_frame, summary_rows
from greenllm.analysis.sanity import sanity_report
from greenllm.atomic import atomic_path, write_parquet, write_text
from greenllm.errors import ConfigError, GreenllmError

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Duplicate:
    """Two files describing the same cell."""

    key: tuple[str, str, str]  # (instance_id, clock_label, workload_id)
    kept: str
    dropped: str
    identical: bool


@dataclass
class Aggregated:
    table: pd.DataFrame
    files: list[Path]
    duplicates: list[Duplicate] = field(default_factory=list)


def read_cells(
    paths: Iterable[str | os.PathLike[str]], progress: Progress | None = None
) -> Aggregated:
    """Read and validate every cell summary under ``paths`` into one table."""
    paths = list(paths)
    files = find_cell_files(paths)
    if not files:
        shown = ", ".join(str(p) for p in paths) or "(no paths given)"
        raise GreenllmError(f"no cell summaries (summary.json or cell *.json) under {shown}")
    summaries: dict[tuple[str, str, str], tuple[Path, dict[str, Any]]] = {}
    duplicates: list[Duplicate] = []
    for i, path in enumerate(files, 1):
        summary = load_summary(path)
        key = (summary["instance"]["id"], summary["clock"]["label"], summary["workload"]["id"])
        if key in summaries:
            kept, dup = _pick(summaries[key], (path, summary))
            summaries[key] = kept
            duplicates.append(dup)
        else:
            summaries[key] = (path, summary)
        if progress and (i % 200 == 0 or i == len(files)):
            progress(f"read {i}/{len(files)} cell summaries")
    rows = [row for path, s in summaries.values() for row in summary_rows(s, path)]
    table = rows_to_frame(rows).sort_values(
        ["model", "tp", "max_batch", "workload_id", "clock_mhz", "load_point"],
        na_position="last",
        ignore_index=True,
    )
    return Aggregated(table=table, files=files, duplicates=duplicates)


def _pick(
    first: tuple[Path, dict[str, Any]], second: tuple[Path, dict[str, Any]]
) -> tuple[tuple[Path, dict[str, Any]], Duplicate]:
    identical = _canonical(first[1]) == _canonical(second[1])
    # The later-finished measurement wins (a re-run after a failure); ties keep the first.
    later = _finished(second[1]) > _finished(first[1])
    kept, dropped = (second, first) if later and not identical else (first, second)
    s = kept[1]
    key = (s["instance"]["id"], s["clock"]["label"], s["workload"]["id"])
    return kept, Duplicate(key, str(kept[0]), str(dropped[0]), identical)


def _canonical(summary: dict[str, Any]) -> str:
    return json.dumps(summary, sort_keys=True)


def _finished(summary: dict[str, Any]) -> str:
    return str((summary.get("provenance") or {}).get("finished_at") or "")


def write_outputs(agg: Aggregated, out_parquet: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``<out>.parquet``, ``<out>.csv`` and ``<out stem>.sanity.md`` beside them, atomically."""
    out = _check_out(out_parquet)
    csv_path = out.with_suffix(".csv")
    # One sanity report per table (several tables share a folder in the DAG).
    sanity_path = out.with_name(f"{out.stem}.sanity.md")
    write_parquet(out, agg.table)
    with atomic_path(csv_path, suffix=".csv") as tmp:
        agg.table.to_csv(tmp, index=False)
    write_text(sanity_path, sanity_report(agg.table, agg.duplicates, len(agg.files)))
    return {"parquet": out, "csv": csv_path, "sanity": sanity_path}


def aggregate(
    paths: Iterable[str | os.PathLike[str]],
    out_parquet: str | os.PathLike[str],
    progress: Progress | None = None,
) -> Aggregated:
    """Read cells under ``paths`` and write the table, its CSV and <stem>.sanity.md."""
    _check_out(out_parquet)  # fail before reading hundreds of files
    agg = read_cells(list(paths), progress)
    write_outputs(agg, out_parquet)
    return agg


def _check_out(out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    if path.suffix != ".parquet":
        raise ConfigError(f"--out must name a .parquet file, got {path}")
    return path


def load_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by ``aggregate`` (parquet, or its CSV twin)."""
    path = Path(path)
    if not path.is_file():
        raise GreenllmError(f"no such table: {path} (run `greenllm aggregate` first)")
    try:
        if path.suffix == ".csv":
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow/pandas raise many types for a corrupt file
        raise GreenllmError(f"{path}: cannot read table ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in ("instance_id", "clock_mhz", "workload_id", "load_point", "status")
               if c not in frame.columns]
    if missing:
        raise GreenllmError(f"{path}: not a greenllm cells table (lacks {', '.join(missing)})")
    for name in COLUMNS:
        if name not in frame.columns:  # tables from an older greenllm: add as missing
            frame[name] = None
    return coerce_table(frame)
