"""``greenllm clocks reset|show``: repair and inspect GPU clock locks.

``reset`` restores the GPUs named by stale clock markers (their process died without
restoring, e.g. ``kill -9``): SM and memory clocks reset, the power limit set back to
what it was; ``--all`` also resets the locked SM and memory clocks of the selected GPUs
and their power limit to the driver default, whatever the markers say (GPUs pinned by a live greenllm process are
skipped). ``show`` prints the current clocks and the markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from greenllm.errors import GpuError
from greenllm.gpu.factory import BACKENDS, open_gpus
from greenllm.gpu.markers import (
    default_marker_dir,
    read_markers,
    remove_marker,
    restore_stale_markers,
)
from greenllm.gpu.reasons import decode_reasons
from greenllm.gpu.selection import parse_selectors


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("clocks", help="reset stale GPU clock locks, show clocks")
    sub = p.add_subparsers(dest="clocks_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--marker-dir", default=None, help=f"clock marker directory (default {default_marker_dir()})")
        q.add_argument("--backend", choices=BACKENDS, default="nvml", help="GPU backend (default nvml)")
        q.add_argument("--sim-state", default=None, metavar="PATH", help="simulated GPU state file (--backend sim)")
        q.add_argument("--gpus", default=None, metavar="LIST",
                       help="GPUs: indices (CUDA_VISIBLE_DEVICES-relative) or UUIDs, comma separated")

    reset = sub.add_parser("reset", help="restore clocks left locked by crashed runs")
    common(reset)
    reset.add_argument("--all", action="store_true",
                       help="also reset locked clocks on the selected GPUs (default: all visible)")
    reset.set_defaults(func=run_reset)

    show = sub.add_parser("show", help="print current clocks and clock markers")
    common(show)
    show.set_defaults(func=run_show)


def run_reset(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    marker_dir = Path(args.marker_dir) if args.marker_dir else default_marker_dir()
    done, failed = restore_stale_markers(marker_dir, warn=lambda message: print(message, file=out))
    if not done and not failed:
        print(f"no stale clock markers in {marker_dir}", file=out)
    if args.all:
        failed += _reset_all(args, marker_dir, out)
    return 1 if failed else 0


def _reset_all(args: argparse.Namespace, marker_dir: Path, out: TextIO) -> list[str]:
    failed: list[str] = []
    live = [m for m in read_markers(marker_dir) if not m.is_stale()]
    gpu = open_gpus(args.backend, parse_selectors(args.gpus), args.sim_state)
    with gpu:
        for i in gpu.indices:
            uuid = gpu.info(i).uuid
            owners = [m for m in live if uuid in m.uuids]
            if owners:
                print(f"GPU {i} ({uuid}) is pinned by live process {owners[0].pid}: skipped", file=out)
                continue
            try:
                gpu.reset_sm_clock(i)
                gpu.reset_memory_clock(i)
                default_w = gpu.info(i).default_power_limit_w
                if default_w is not None and abs(gpu.power_limit_w(i) - default_w) > 0.5:
                    gpu.set_power_limit(i, default_w)
                    print(f"GPU {i} ({uuid}): power limit set back to its default {default_w:g} W", file=out)
            except GpuError as exc:
                failed.append(str(exc))
                print(f"GPU {i} ({uuid}): could not reset clocks: {exc}", file=out)
            else:
                print(f"GPU {i} ({uuid}): locked SM and memory clocks reset to the driver default", file=out)
        for m in read_markers(marker_dir):  # markers of GPUs just reset are now moot
            if m.is_stale() and set(m.uuids) <= {gpu.info(i).uuid for i in gpu.indices}:
                remove_marker(m.path)
    return failed


def run_show(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    marker_dir = Path(args.marker_dir) if args.marker_dir else default_marker_dir()
    with open_gpus(args.backend, parse_selectors(args.gpus), args.sim_state) as gpu:
        for i in gpu.indices:
            info, s = gpu.info(i), gpu.sample(i)
            reasons = ", ".join(decode_reasons(s.throttle_reasons)) or "none"
            print(f"GPU {i} ({info.uuid}): SM {s.sm_clock_mhz} MHz, memory {s.mem_clock_mhz} MHz, "
                  f"{s.power_instant_w:.1f} W, power limit {gpu.power_limit_w(i):g} W, "
                  f"reasons: {reasons}", file=out)
    markers = read_markers(marker_dir)
    for m in markers:
        print(f"marker ({'stale' if m.is_stale() else 'live'}): {m.describe()}", file=out)
    if not markers:
        print(f"no clock markers in {marker_dir}", file=out)
    return 0
