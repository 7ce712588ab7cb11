"""Where a cell's results live and what state they are in: the cell (setting x
workload), its folder, its summary's status and finished repeats, the instance manifest,
and what a rerun still has to measure. Shared by the fixed-length and the trace runs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenllm import atomic
from greenllm.load import Workload
from greenllm.measure import adaptive, measured_settings
from greenllm.measure.config import MeasureCfg
from greenllm.measure.outcome import RETRIED_STATUSES, unmeasured_warning
from greenllm.sweep_axes import KnobSetting, knob_settings


@dataclass(frozen=True)
class Cell:
    clock_label: str  # f<MHz>, p<W>, m<MHz> (greenllm.sweep_axes) or native
    mhz: int | None  # None in observe mode
    workload: Workload
    power_limit_w: float | None = None  # None: the card's own
    memory_mhz: int | None = None  # None: the driver's choice

    @property
    def setting(self) -> KnobSetting:
        return KnobSetting(self.mhz, self.power_limit_w, self.memory_mhz)

    def dir(self, out: Path) -> Path:
        return out / "cells" / self.clock_label / self.workload.id


def instance_id(cfg: MeasureCfg) -> str:
    return f"{cfg.model.name}_tp{cfg.instance.tp}_b{cfg.instance.max_batch}"


def plan_cells(cfg: MeasureCfg, workloads: Sequence[Workload], mode: str) -> list[Cell]:
    if mode == "observe":
        return [Cell("native", None, w) for w in workloads]
    return [Cell(s.label, s.mhz, w, s.power_limit_w, s.memory_mhz)
            for s in knob_settings(cfg.clocks) for w in workloads]


def read_summary(cell: Cell, out: Path) -> dict[str, Any] | None:
    """The cell's summary; None if absent or unreadable (corrupt: measured again)."""
    try:
        summary = json.loads((cell.dir(out) / "summary.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def cell_status(cell: Cell, out: Path) -> str | None:
    summary = read_summary(cell, out)
    return summary.get("status") if summary else None


def repeats_done(cell: Cell, out: Path) -> int:
    """Completed repeats of a cell (a partial or failed cell resumes at the next one)."""
    return summary_repeats_done(read_summary(cell, out))


def summary_repeats_done(summary: dict[str, Any] | None) -> int:
    """``repeats_done`` of a summary already read."""
    if not summary or summary.get("status") not in ("ok", "partial", "failed"):
        return 0
    if summary.get("status") == "failed":  # its finished repeats stay valid
        return int(summary.get("repeats_done") or 0)
    return int(summary.get("repeats_done", summary.get("repeats", 1)))


def stale_cells(cells: Sequence[Cell], out: Path,
                config: dict[str, Any]) -> dict[Path, list[str]]:
    """The folders of ``cells`` measured under other settings than the plain measure
    ``config`` (``measured_settings.stale``: measured afresh, not resumed)."""
    return measured_settings.stale([c.dir(out) for c in cells],
                                   [read_summary(c, out) for c in cells], out,
                                   measured_settings.measured_settings(config))


def write_manifest(out: Path, iid: str, cells: Sequence[Cell], complete: bool) -> None:
    atomic.write_json(out / "manifest.json", {
        "instance_id": iid,
        "complete": complete,
        "cells": [{"clock": c.clock_label, "workload": c.workload.id,
                   "status": cell_status(c, out) or "missing",
                   "summary": str(c.dir(out) / "summary.json")} for c in cells],
    })


def needs_measuring(cell: Cell, out: Path, retry_failed: bool,
                    policy: adaptive.RepeatPolicy) -> bool:
    summary = read_summary(cell, out)
    status = summary.get("status") if summary else None
    if status in RETRIED_STATUSES:
        return retry_failed
    if summary is not None and status == "ok":  # stopped under its own policy: more now?
        return adaptive.wants_more_repeats(policy, summary)
    return status is None or summary_repeats_done(summary) < policy.cap


def warn_not_ok(cells: Sequence[Cell], out: Path) -> None:
    """The run's last line names every cell that is not ok (docs/measure.md)."""
    warning = unmeasured_warning([(f"{c.clock_label}/{c.workload.id}", read_summary(c, out))
                                  for c in cells])
    if warning:
        note(warning)


def drop_unfinished_repeat(cdir: Path, repeat: int) -> None:
    """Remove files of ``repeat`` left by an earlier run that was aborted mid-repeat, and
    set a corrupt summary aside (kept, renamed) before it is measured again."""
    for kind in ("requests", "telemetry"):
        (cdir / f"{kind}.r{repeat}.parquet").unlink(missing_ok=True)
    summary = cdir / "summary.json"
    if summary.is_file():
        try:
            ok = isinstance(json.loads(summary.read_text()), dict)
        except ValueError:
            ok = False
        if not ok:
            aside = cdir / f"summary.corrupt-{time.strftime('%Y%m%dT%H%M%S')}.json"
            summary.rename(aside)
            note(f"{cdir}: unreadable summary.json kept as {aside.name}; measuring again")


def note(msg: str) -> None:
    print(f"greenllm: {msg}", file=sys.stderr, flush=True)
