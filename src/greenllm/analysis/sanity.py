"""sanity.md: which cells failed or look doubtful, and why, before anyone trusts a figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from greenllm.analysis.flatten import CELL_KEY

# Beyond these the analysis flags a row itself (measure may already have flagged it).
ENERGY_DISAGREEMENT_MAX = 0.05  # counter vs power integral, relative
CLOCK_SHORTFALL_MAX = 0.05  # achieved SM clock below the pinned one, relative
APPLIED_CLOCK_TOLERANCE_MHZ = 20.0  # H100 clocks come in 15 MHz steps


def row_issues(row: pd.Series) -> list[str]:
    """Human-readable reasons to doubt one table row (empty when it looks fine)."""
    issues: list[str] = []
    if row["status"] != "ok":
        kind = "" if row["status"] == "no_max_throughput" else "failed: "
        issues.append(f"{kind}{_text(row['error']) or 'no error recorded'}")
        return issues
    if _text(row["flags"]):
        issues.append(f"flags: {row['flags'].replace(';', ', ')}")
    if _missing(row["load_point"]):
        issues.append("no load points")
    if _missing(row["max_throughput_rps"]):
        issues.append("no max throughput under SLO")
    if not _missing(row["load_point"]):
        if _num(row["n_failed"]) > 0:
            issues.append(f"{int(row['n_failed'])} requests failed")
        if _missing(row["energy_j"]):
            issues.append("no energy measurement")
        dis = _num(row["energy_disagreement"])
        if abs(dis) > ENERGY_DISAGREEMENT_MAX and "energy_disagreement" not in _text(row["flags"]):
            issues.append(f"energy counter and power integral differ by {dis:+.1%}")
    issues.extend(_clock_issues(row))
    return issues


def _clock_issues(row: pd.Series) -> list[str]:
    if row["clock_mode"] != "pin":
        return []
    requested = _num(row["clock_requested_mhz"])
    applied = _num(row["clock_applied_mhz"])
    achieved = _num(row["sm_clock_mean_mhz"])
    out = []
    if abs(applied - requested) > APPLIED_CLOCK_TOLERANCE_MHZ:
        out.append(f"applied {applied:.0f} MHz for {requested:.0f} MHz requested")
    if achieved < requested * (1 - CLOCK_SHORTFALL_MAX):
        reasons = _text(row["throttle_reasons"]).replace(";", ", ") or "none recorded"
        out.append(
            f"SM clock averaged {achieved:.0f} MHz, below the pinned {requested:.0f} MHz "
            f"(throttle reasons: {reasons})"
        )
    return out


def sanity_report(table: pd.DataFrame, duplicates: Sequence[Any], n_files: int,
                  statistics: pd.DataFrame | None = None) -> str:
    cells = table.drop_duplicates(list(CELL_KEY))
    failed = cells[cells["status"] != "ok"]
    n_observed = int((cells["clock_mode"] == "observe").sum())
    lines = [
        "# Sanity report",
        "",
        f"- cell files read: {n_files}; cells: {len(cells)}; table rows: {len(table)}",
        f"- cells ok: {len(cells) - len(failed)}; "
        f"failed: {int((failed['status'] == 'failed').sum())}; "
        f"no max throughput (no probed rate met the SLO): "
        f"{int((failed['status'] == 'no_max_throughput').sum())}",
        f"- simulated cells: {int(cells['simulated'].sum())} (figures from them say SIMULATED)",
        f"- observe-mode cells (clock read, not pinned): {n_observed}",
        (f"- duplicate cell files: {len(duplicates)} "
         f"({sum(1 for d in duplicates if not d.identical)} with differing content)"),
        "",
        "## Cells not ok (failed, or no max throughput)",
        "",
    ]
    lines += _md_table(
        ["instance", "clock", "workload", "status", "error"],
        [[r.instance_id, r.clock_label, r.workload_id, r.status, _text(r.error) or "-"]
         for r in failed.itertuples()],
    )
    flagged = [
        [r["instance_id"], r["clock_label"], r["workload_id"], _text(r["load_point"]) or "-",
         "; ".join(issues)]
        for _, r in table[table["status"] == "ok"].iterrows()
        if (issues := row_issues(r))
    ]
    lines += ["", "## Flagged rows", ""]
    lines += _md_table(["instance", "clock", "workload", "load point", "why"], flagged)
    if statistics is not None and len(statistics):
        lines += ["", "## Spread over repeats", ""]
        lines += _spread_lines(statistics)
    conflicting = [d for d in duplicates if not d.identical]
    if conflicting:
        lines += ["", "## Conflicting duplicates (kept the later-finished one)", ""]
        lines += _md_table(
            ["cell", "kept", "dropped"], [["/".join(d.key), d.kept, d.dropped] for d in conflicting]
        )
    return "\n".join(lines) + "\n"


def _spread_lines(stats: pd.DataFrame) -> list[str]:
    """Repeat counts and the load points whose run-to-run spread exceeds the CV bound."""
    measured = stats[stats["load_point"].notna() & (stats["status"] == "ok")]
    counts = measured["n_repeats"].value_counts().sort_index()
    lines = ["- repeats per load point: " + (", ".join(
        f"{int(n)} × {int(c)}" for n, c in counts.items()) or "none")
        + " (95 % bootstrap CIs need ≥ 3; figures and claims use medians)"]
    high = measured[measured["high_spread"]]
    lines += [f"- load points with high spread (CV above the bound): {len(high)}", ""]
    rows = []
    for _, r in high.iterrows():
        names = [m for m in str(r["high_spread_metrics"]).split(";") if m]
        cvs = ", ".join(f"{m} {r[f'{m}_cv']:.0%}" for m in names)
        rows.append([r["instance_id"], r["clock_label"], r["workload_id"], r["load_point"],
                     int(r["n_repeats"]), cvs])
    return lines + _md_table(["instance", "clock", "workload", "load point", "repeats", "CV"],
                             rows)


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return ["None."]
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _num(value: Any) -> float:
    return float("nan") if _missing(value) else float(value)


def _text(value: Any) -> str:
    return "" if _missing(value) else str(value)
