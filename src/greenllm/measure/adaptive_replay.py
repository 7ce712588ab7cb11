"""Replay the adaptive repeat policy on a run measured with a fixed repeat count.

Repeat r of a cell is the same measurement under either policy (same load point rates,
from the one search at repeat 0; the same arrival seed per repeat and point), so a fixed
run of N repeats holds every window an adaptive run capped at N would have made: the
adaptive run keeps, of each load point, its repeats up to where ``measure.adaptive.decide``
stops it (each point on its own under ``--stop-per point``, the default; the whole cell
under ``--stop-per cell``). This gives both policies' intervals and spend from one
engine start (the lent GPU's time is short):

* intervals: each target metric's relative 95 % CI half-width after all N repeats and
  after the k the adaptive policy keeps;
* spend: the fixed run's ``spend.json``, and for the adaptive policy the same less the
  windows it would not have made (the warm-up and clock settling between
  them stay counted, so the adaptive figure is an upper bound).

    python -m greenllm.measure.adaptive_replay RAW_DIR [--targets ttft_p50_s=0.05,...]
        [--cap 5] [--stop-per point|cell] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError
from greenllm.measure.adaptive import (
    DEFAULT_CI_TARGETS,
    DEFAULT_STOP_PER,
    RepeatPolicy,
    relative_half_width,
    repeat_policy,
    replay_stops,
    summary_values,
)
from greenllm.measure.spend import read_spend


def replay_cell(summary: dict[str, Any], policy: RepeatPolicy) -> dict[str, Any]:
    """Where the adaptive policy stops on this cell's repeats, and what it drops.

    Replays the run loop (``replay_stops``): repeat k measures the points the decision
    after repeat k-1 left open (all of them under ``stop_per=cell``), until the cell
    stops."""
    points = sorted(summary.get("load_points") or [], key=lambda p: int(p.get("repeat", 0)))
    done = int(summary.get("repeats_done") or 0)
    all_values = summary_values(points, policy.targets)
    decision, ran = replay_stops(policy, all_values, done)
    stop_at, reason = (ran, str(decision.reason)) if decision and decision.stop else (
        done, "not stopped (fewer repeats than its minimum)")
    keep = decision.point_repeats if decision else {}

    def kept_by_adaptive(p: dict[str, Any]) -> bool:
        return int(p.get("repeat", 0)) < keep.get(p.get("name"), stop_at)

    kept = [p for p in points if kept_by_adaptive(p)]
    dropped_s = sum(float(p.get("duration_s") or 0.0) for p in points
                    if not kept_by_adaptive(p))
    kept_values = summary_values(kept, policy.targets)
    return {
        "clock": summary["clock"]["label"], "workload": summary["workload"]["id"],
        "repeats_fixed": done, "repeats_adaptive": stop_at, "adaptive_stop": reason,
        "point_repeats": dict(keep),
        "dropped_window_s": dropped_s,
        "half_width_fixed": {f"{p}/{m}": relative_half_width(v) for (p, m), v in all_values.items()},
        "half_width_adaptive": {f"{p}/{m}": relative_half_width(v)
                                for (p, m), v in kept_values.items()},
    }


def replay(raw_dir: Path, policy: RepeatPolicy) -> dict[str, Any]:
    cells = []
    for path in sorted(Path(raw_dir).rglob("cells/*/*/summary.json")):
        summary = json.loads(path.read_text())
        if summary.get("status") in ("ok", "partial"):
            cells.append(replay_cell(summary, policy))
    spend = read_spend(Path(raw_dir))
    out: dict[str, Any] = {"policy": policy.to_dict(), "cells": cells, "spend": None}
    if spend is not None:
        dropped = sum(c["dropped_window_s"] for c in cells)
        out["spend"] = {
            "fixed": spend.to_dict(),
            "adaptive_upper_bound": {
                "held_s": spend.held_s - dropped, "gpu_s_held": spend.gpus * (spend.held_s - dropped),
                "window_s": spend.window_s - dropped,
                "gpu_s_in_windows": spend.gpus * (spend.window_s - dropped),
                "engine_starts": spend.engine_starts,
                "fraction_of_fixed": (spend.held_s - dropped) / spend.held_s
                if spend.held_s else None},
        }
    return out


def parse_targets(text: str | None) -> dict[str, float]:
    """``metric=width,...`` (a CLI's ``--targets``) as CI targets; the defaults if empty."""
    if not text:
        return dict(DEFAULT_CI_TARGETS)
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--targets {item!r}: use metric=width, e.g. ttft_p50_s=0.05")
        out[key.strip()] = float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Replay adaptive repeats on a fixed-repeat run.")
    ap.add_argument("raw_dir", type=Path)
    ap.add_argument("--targets", help="metric=relative half-width,... (default: the paper's)")
    ap.add_argument("--cap", type=int, default=None, help="repeat cap (default: the run's)")
    ap.add_argument("--stop-per", choices=("point", "cell"), default=DEFAULT_STOP_PER,
                    help="each load point stops on its own targets (point, load.stop_per's "
                         "default) or a cell waits for all of its points (cell)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    try:
        summaries = sorted(args.raw_dir.rglob("cells/*/*/summary.json"))
        if not summaries:
            raise ConfigError(f"{args.raw_dir}: no cells (cells/<clock>/<workload>/summary.json)")
        cap = args.cap or max(int(json.loads(p.read_text()).get("repeats_done") or 0)
                              for p in summaries)
        policy = repeat_policy(None, parse_targets(args.targets), max(cap, 2), args.stop_per)
    except (ConfigError, ValueError) as err:
        print(f"greenllm: error: {err}", file=sys.stderr)
        return 2
    result = replay(args.raw_dir, policy)
    for c in result["cells"]:
        widths = ", ".join(
            f"{k} {_pct(c['half_width_fixed'].get(k))} -> {_pct(v)}"
            for k, v in c["half_width_adaptive"].items())
        per = ", ".join(f"{p} {n}" for p, n in c["point_repeats"].items())
        print(f"{c['clock']} {c['workload']}: fixed {c['repeats_fixed']} repeats, adaptive "
              f"{c['repeats_adaptive']} ({c['adaptive_stop']}; per point: {per}); "
              f"CI half-widths {widths}")
    if result["spend"]:
        f, a = result["spend"]["fixed"], result["spend"]["adaptive_upper_bound"]
        print(f"spend fixed: {f['gpu_s_held']:.0f} GPU-s held, {f['gpu_s_in_windows']:.0f} in "
              f"windows, {f['engine_starts']} engine start(s); adaptive (replayed, upper "
              f"bound): {a['gpu_s_held']:.0f} GPU-s held ({a['fraction_of_fixed']:.0%} of fixed)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


if __name__ == "__main__":
    sys.exit(main())
