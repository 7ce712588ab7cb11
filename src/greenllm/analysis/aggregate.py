"""Cell summaries -> one tidy table (parquet + CSV), its statistics table and a sanity report.

One row per (instance, clock, workload, load point, repeat); see ``flatten.COLUMNS``. The
same cell may be found twice (the raw ``summary.json`` and Snakemake's per-cell copy):
identical copies count once; differing ones keep the most recently finished and are
reported. Beside the table, ``<stem>.summary.parquet`` (+ CSV) holds one row per
(instance, clock, workload, load point): the median over repeats of every metric with its
95 % bootstrap CI and CV (``statistics.statistics_table``).
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
from greenllm.analysis.statistics import (
    coerce_statistics,
    is_statistics_table,
    statistics_table,
)
from greenllm.analysis.uncertainty import DEFAULT_CV_FLAG
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
    table: pd.DataFrame  # one row per repeat
    files: list[Path]
    duplicates: list[Duplicate] = field(default_factory=list)
    statistics: pd.DataFrame | None = None  # one row per load point: medians, CIs, CV


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
        ["model", "tp", "max_batch", "workload_id", "clock_mhz", "load_point", "repeat"],
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


def statistics_path(table_path: str | os.PathLike[str]) -> Path:
    """``<stem>.summary.parquet`` beside a table (its CSV twin: ``.summary.csv``)."""
    path = Path(table_path)
    return path.with_name(f"{path.stem}.summary.parquet")


def write_outputs(
    agg: Aggregated, out_parquet: str | os.PathLike[str], *, cv_flag: float = DEFAULT_CV_FLAG
) -> dict[str, Path]:
    """Write ``<out>.parquet``, ``<out>.csv``, ``<stem>.summary.parquet|.csv`` and
    ``<stem>.sanity.md`` beside them, atomically."""
    out = _check_out(out_parquet)
    if agg.statistics is None:
        agg.statistics = statistics_table(agg.table, cv_flag=cv_flag)
    csv_path = out.with_suffix(".csv")
    stats_path = statistics_path(out)
    stats_csv = stats_path.with_suffix(".csv")
    # One sanity report per table (several tables share a folder in the DAG).
    sanity_path = out.with_name(f"{out.stem}.sanity.md")
    write_parquet(out, agg.table)
    with atomic_path(csv_path, suffix=".csv") as tmp:
        agg.table.to_csv(tmp, index=False)
    write_parquet(stats_path, agg.statistics)
    with atomic_path(stats_csv, suffix=".csv") as tmp:
        agg.statistics.to_csv(tmp, index=False)
    write_text(sanity_path, sanity_report(agg.table, agg.duplicates, len(agg.files),
                                          statistics=agg.statistics))
    return {"parquet": out, "csv": csv_path, "summary": stats_path, "summary_csv": stats_csv,
            "sanity": sanity_path}


def aggregate(
    paths: Iterable[str | os.PathLike[str]],
    out_parquet: str | os.PathLike[str],
    progress: Progress | None = None,
    *,
    cv_flag: float = DEFAULT_CV_FLAG,
) -> Aggregated:
    """Read cells under ``paths`` and write the table, its CSV, the statistics table
    (<stem>.summary.parquet + .csv) and <stem>.sanity.md.

    ``cv_flag``: a load point whose coefficient of variation over repeats exceeds it (in
    a headline metric) is flagged ``high_spread``.
    """
    _check_out(out_parquet)  # fail before reading hundreds of files
    if not (isinstance(cv_flag, (int, float)) and cv_flag > 0):
        raise ConfigError(f"cv_flag must be a positive number, got {cv_flag!r}")
    agg = read_cells(list(paths), progress)
    if progress:
        progress(f"statistics over repeats of {len(agg.table)} rows")
    agg.statistics = statistics_table(agg.table, cv_flag=cv_flag)
    write_outputs(agg, out_parquet, cv_flag=cv_flag)
    return agg


def _check_out(out: str | os.PathLike[str]) -> Path:
    path = Path(out)
    if path.suffix != ".parquet":
        raise ConfigError(f"--out must name a .parquet file, got {path}")
    return path


def load_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by ``aggregate`` (parquet, or its CSV twin; the cells table or
    its statistics table)."""
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
    # Tables from an older greenllm: add absent columns as missing. Integer columns cannot
    # hold "missing": an old table had one repeat and one search per cell.
    absent = {name: 0 if kind == "int" else None for name, kind in COLUMNS.items()
              if name not in frame.columns}
    if absent:
        frame = pd.concat([frame, pd.DataFrame(absent, index=frame.index)], axis=1)
    # A statistics table (<stem>.summary.parquet) reads back as one too.
    return coerce_statistics(frame) if is_statistics_table(frame) else coerce_table(frame)
