"""What a measurement run actually spent: GPU time held, GPU time inside windows, starts.

``greenllm plan`` predicts GPU-hours; this is the other side of the ledger. An instance
holds its GPUs from the moment they are opened until the run ends (engine start,
baselines, clock settling and warm-up included); only the time its probes and load
points are sending and receiving requests is *inside a measurement window*. The
difference is overhead worth seeing, so every run writes ``spend.json`` next to its
cells (added to an earlier run's when a run resumes), each cell summary carries the
instance's running total, and the figures' footnote names the campaign's total.

Durations are passed in, never read from a clock here, so the same ledger accounts a
real run (wall time) and the virtual-time campaign on the simulator
(``greenllm.calibrate.virtual_campaign``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from greenllm import atomic

SPEND_FILE = "spend.json"


@dataclass
class SpendLedger:
    gpus: int
    held_s: float = 0.0  # seconds the GPUs were held (wall or virtual)
    window_s: float = 0.0  # seconds inside probes' and load points' windows
    engine_starts: int = 0
    engine_start_s: float = 0.0
    probes: int = 0
    load_points: int = 0
    repeats: int = 0  # cell repeats (passes) measured
    runs: int = 1  # measure runs added up (a resumed instance has several)

    def hold(self, seconds: float) -> None:
        self.held_s += max(0.0, float(seconds))

    def engine_started(self, seconds: float) -> None:
        self.engine_starts += 1
        self.engine_start_s += max(0.0, float(seconds))

    def window(self, seconds: float, kind: str) -> None:
        """A probe's or a load point's active time (first send to last response)."""
        self.window_s += max(0.0, float(seconds))
        if kind == "probe":
            self.probes += 1
        else:
            self.load_points += 1

    def add_pass(self, summary: Mapping[str, Any], repeat: int, searched: bool) -> None:
        """Windows of one cell repeat from its summary (its load points, and its probes
        when this repeat ran the search)."""
        self.repeats += 1
        for lp in summary.get("load_points") or []:
            if lp.get("repeat", 0) == repeat and lp.get("duration_s") is not None:
                self.window(float(lp["duration_s"]), "point")
        if searched:
            for p in (summary.get("max_throughput") or {}).get("probes") or []:
                if p.get("duration_s") is not None:
                    self.window(float(p["duration_s"]), "probe")

    @property
    def gpu_s_held(self) -> float:
        return self.gpus * self.held_s

    @property
    def gpu_s_in_windows(self) -> float:
        return self.gpus * self.window_s

    @property
    def fraction_in_windows(self) -> float | None:
        return self.window_s / self.held_s if self.held_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gpu_s_held": self.gpu_s_held,
                "gpu_s_in_windows": self.gpu_s_in_windows,
                "gpu_h_held": self.gpu_s_held / 3600.0,
                "fraction_in_windows": self.fraction_in_windows}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpendLedger:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def plus(self, other: SpendLedger) -> SpendLedger:
        return SpendLedger(
            gpus=max(self.gpus, other.gpus), held_s=self.held_s + other.held_s,
            window_s=self.window_s + other.window_s,
            engine_starts=self.engine_starts + other.engine_starts,
            engine_start_s=self.engine_start_s + other.engine_start_s,
            probes=self.probes + other.probes, load_points=self.load_points + other.load_points,
            repeats=self.repeats + other.repeats, runs=self.runs + other.runs)


def read_spend(out: Path) -> SpendLedger | None:
    try:
        return SpendLedger.from_dict(json.loads((Path(out) / SPEND_FILE).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def write_spend(out: Path, this_run: SpendLedger, earlier: SpendLedger | None) -> SpendLedger:
    """``spend.json``: this run's ledger added to the earlier runs' (a resume)."""
    total = this_run if earlier is None else earlier.plus(this_run)
    atomic.write_json(Path(out) / SPEND_FILE, total.to_dict())
    return total


def campaign_total(ledgers: Iterable[SpendLedger]) -> dict[str, float]:
    """GPU-seconds and counts summed over instances (each with its own GPU count)."""
    out = {"gpu_s_held": 0.0, "gpu_s_in_windows": 0.0, "engine_starts": 0, "probes": 0,
           "load_points": 0, "repeats": 0}
    for ledger in ledgers:
        out["gpu_s_held"] += ledger.gpu_s_held
        out["gpu_s_in_windows"] += ledger.gpu_s_in_windows
        for key in ("engine_starts", "probes", "load_points", "repeats"):
            out[key] += getattr(ledger, key)
    return out


def footnote(gpu_s_held: float, gpu_s_in_windows: float, engine_starts: int,
             virtual_time: bool = False) -> str:
    """The figures' footnote line naming what the campaign spent. ``virtual_time``: the
    windows are a virtual engine's simulated seconds and the time held is the wall
    clock's, so no share is given (also when the numbers show it: a share above 1)."""
    share = gpu_s_in_windows / gpu_s_held if gpu_s_held > 0 else 0.0
    if virtual_time or share > 1:
        return (f"Campaign spend: {gpu_s_in_windows / 3600:.2f} GPU-h of simulated time inside "
                f"measurement windows (virtual engine), {engine_starts} engine start(s).")
    return (f"Campaign spend: {gpu_s_held / 3600:.2f} GPU-h held, {share:.0%} inside "
            f"measurement windows, {engine_starts} engine start(s).")


def stamp_summaries(paths: Iterable[Path], total: SpendLedger) -> None:
    """Write the instance's total into each of its cell summaries (``instance_spend``),
    so the spend travels with the cells into the tables (summaries are copied as is)."""
    block = total.to_dict()
    for path in paths:
        try:
            summary = json.loads(Path(path).read_text())
        except (OSError, ValueError):  # absent, or corrupt: measured again by a rerun
            continue
        if not isinstance(summary, dict):
            continue
        summary["instance_spend"] = block
        atomic.write_json(path, summary)


def finish_spend(out: Path, ledger: SpendLedger, t_held: float, note: Callable[[str], None],
                 summary_paths: Iterable[Path], *, virtual_time: bool = False) -> None:
    """At the end of a run: spend.json (added to earlier runs') and each cell's copy. A
    run that started no engine measured nothing and spent only its checks: not recorded.
    ``virtual_time``: the engine's windows are virtual seconds while the time held is the
    wall clock's, so their ratio means nothing and the note does not print one."""
    if not ledger.engine_starts:
        return
    ledger.hold(time.monotonic() - t_held)
    total = write_spend(out, ledger, read_spend(out))
    stamp_summaries(summary_paths, total)
    if virtual_time:
        note(f"virtual engine: {total.gpu_s_in_windows / 3600:.3f} GPU-h of simulated time inside "
             f"measurement windows; {total.gpu_s_held:.0f} GPU-s of wall time held (not "
             "comparable), spend.json")
        return
    note(f"spent {total.gpu_s_held / 3600:.3f} GPU-h held, "
         f"{total.fraction_in_windows or 0:.0%} inside measurement windows, "
         f"{total.engine_starts} engine start(s) (spend.json)")
