"""A cell's status from what its search found, and the run's closing warning.

A cell whose max-throughput search found no rate meeting the SLO is not ``ok``: its
named load points (fractions of that max) were never measured. It gets the status
``no_max_throughput``, is measured again on a rerun like a failed cell (unless
``retry_failed=false``), and the run ends with one warning line naming every cell that is
not ok. The exit code stays 0 (docs/measure.md says why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from greenllm.search_outcome import NO_MAX_THROUGHPUT, describe_search, found_max_throughput

# Statuses a rerun measures again when retry_failed is true (from repeat 0).
RETRIED_STATUSES = ("failed", NO_MAX_THROUGHPUT)


def pass_status(summary: Mapping[str, Any], finished_status: str) -> str:
    """The status of a pass that ran to its end: ``finished_status`` (ok / partial),
    unless the cell's search found no max throughput."""
    if not found_max_throughput(summary.get("max_throughput")):
        return NO_MAX_THROUGHPUT
    return finished_status


def unmeasured_warning(cells: Sequence[tuple[str, Mapping[str, Any] | None]]) -> str | None:
    """One line naming the cells (``label``, summary) that are not ok (failed, no max)."""
    bad = []
    for label, summary in cells:
        status = (summary or {}).get("status")
        if status == "failed":
            bad.append(f"{label} failed ({(summary or {}).get('error') or 'no error recorded'})")
        elif status == NO_MAX_THROUGHPUT:
            why = describe_search((summary or {}).get("max_throughput")) or "no max throughput"
            bad.append(f"{label} {why}")
    if not bad:
        return None
    return (f"WARNING: {len(bad)} of {len(cells)} cells are not ok: "
            + " | ".join(bad))
