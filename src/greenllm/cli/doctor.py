"""``greenllm doctor``: can a measurement run here, and in which clock mode?

Prints the GPUs (name, UUID, driver), supported SM clocks, whether clock locking is
permitted, the power limit's range and the memory clocks and whether each may be set, current power/clock readings, stale clock markers and whether vLLM is
importable. Exit code 0 if a measurement can run (a GPU is present and readable), 1 if
not -- including on a machine with no GPU at all, which it says plainly. ``--sim`` checks
a simulated GPU (temporary state file) instead.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from greenllm import __version__
from greenllm.config_paths import measure_config_path
from greenllm.errors import GpuError
from greenllm.gpu.base import Gpu, GpuInfo
from greenllm.gpu.factory import open_gpus
from greenllm.gpu.markers import default_marker_dir, read_markers
from greenllm.gpu.profiles import profile_for_gpu_name
from greenllm.gpu.reasons import decode_reasons
from greenllm.gpu.selection import parse_selectors


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "doctor",
        help="check GPUs, driver, clock permissions and vLLM",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("--sim", action="store_true", help="check a simulated GPU (temporary state file)")
    p.add_argument("--sim-count", type=int, default=1, metavar="N", help="simulated GPUs with --sim (default 1)")
    p.add_argument("--sim-profile", default="h100-sxm", metavar="NAME",
                   help="GPU profile the simulated GPUs stand for with --sim: h100-sxm (default) or h200")
    p.add_argument("--gpus", default=None, metavar="LIST",
                   help="GPUs to check: indices (CUDA_VISIBLE_DEVICES-relative) or UUIDs, comma separated")
    p.add_argument("--marker-dir", default=None, help=f"clock marker directory (default {default_marker_dir()})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    print(f"greenllm {__version__}, Python {platform.python_version()} ({sys.executable})", file=out)
    vllm = importlib.util.find_spec("vllm") is not None  # find_spec: importing vLLM takes seconds
    print(f"vLLM: {'importable' if vllm else 'not importable (pip install greenllm[vllm]; the sim engine works without it)'}", file=out)
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    print(f"CUDA_VISIBLE_DEVICES: {'unset (all GPUs visible)' if cvd is None else repr(cvd)}", file=out)
    selectors = parse_selectors(args.gpus)
    marker_dir = Path(args.marker_dir) if args.marker_dir else default_marker_dir()

    with tempfile.TemporaryDirectory(prefix="greenllm-doctor-") as tmp:
        try:
            if args.sim:
                from greenllm.gpu.sim import SimGpu, SimGpuSpec

                SimGpu.create(Path(tmp) / "sim-gpu.state", args.sim_count,
                              SimGpuSpec.for_profile(args.sim_profile)).close()
                gpu = open_gpus("sim", selectors, Path(tmp) / "sim-gpu.state")
            else:
                gpu = open_gpus("nvml", selectors)
        except GpuError as exc:
            print(f"GPU: none usable -- {exc}", file=out)
            print("Result: no measurement can run here (needs an NVIDIA GPU); "
                  "'greenllm doctor --sim' and the sim profile run without one.", file=out)
            return 1
        with gpu:
            ok, pin_ok = _report_gpus(gpu, out)
    _report_markers(marker_dir, out)
    if not ok:
        print("Result: a GPU is present but could not be read; no measurement can run.", file=out)
        return 1
    mode = "pin and observe modes" if pin_ok else "observe mode only (clock locking not permitted)"
    print(f"Result: ready to measure, {mode}.", file=out)
    return 0


def describe_clocks(clocks: tuple[int, ...]) -> str:
    if not clocks:
        return "unknown (not reported by the driver: clocks cannot be pinned)"
    steps = {b - a for a, b in itertools.pairwise(clocks)}
    if len(steps) == 1:
        return f"{len(clocks)} supported, {clocks[0]}-{clocks[-1]} MHz in {steps.pop()} MHz steps"
    return f"{len(clocks)} supported, {clocks[0]}-{clocks[-1]} MHz (uneven steps)"


def describe_profile(name: str) -> str:
    """Which ``gpu=`` profile a measurement on this GPU should use."""
    profile = profile_for_gpu_name(name)
    if profile is None:
        return ("greenllm profile: none matches this GPU (config/measure/gpu/ has "
                f"{', '.join(known_profiles())}): add one for its clocks and power limit")
    return f"greenllm profile: {profile} (measure with gpu={profile}, config/measure/gpu/{profile}.yaml)"


def known_profiles() -> list[str]:
    return sorted(p.stem for p in (measure_config_path() / "gpu").glob("*.yaml"))


def _report_gpus(gpu: Gpu, out: TextIO) -> tuple[bool, bool]:
    ok = True
    pin_ok = True
    kind = "simulated" if gpu.simulated else "NVML"
    print(f"GPUs ({kind}): {len(gpu.indices)}", file=out)
    for i in gpu.indices:
        try:
            info = gpu.info(i)
            print(f"GPU {i}: {info.name}  {info.uuid}", file=out)
            print(f"  {describe_profile(info.name)}", file=out)
            print(f"  driver {info.driver}, power limit {info.power_limit_w:.0f} W, "
                  f"memory clock {info.memory_clock_mhz} MHz", file=out)
            default = f"; default (max boost) {info.default_sm_clock_mhz} MHz" if info.default_sm_clock_mhz else ""
            print(f"  SM clocks: {describe_clocks(info.supported_sm_clocks_mhz)}{default}", file=out)
            permitted = gpu.clock_control_permitted(i)
            pin_ok = pin_ok and permitted and bool(info.supported_sm_clocks_mhz)
            why = ("root, or admin-lifted clock restriction" if not gpu.simulated else "simulated setting")
            print(f"  clock locking: {'permitted' if permitted else 'NOT permitted'} ({why}; "
                  f"{'pin mode works' if permitted else 'use clock mode observe, see docs/gpu.md'})", file=out)
            _report_other_knobs(gpu, i, info, out)
            instant = gpu.instant_power_supported(i)
            print(f"  instant power: {'supported' if instant else 'NOT supported (1 s average used instead)'}", file=out)
            s = gpu.sample(i)
            reasons = ", ".join(decode_reasons(s.throttle_reasons)) or "none"
            print(f"  now: {s.power_instant_w:.1f} W instant, {s.power_avg_w:.1f} W 1-s average, "
                  f"SM {s.sm_clock_mhz} MHz, memory {s.mem_clock_mhz} MHz, {s.temperature_c:.0f} C, "
                  f"energy counter {s.energy_mj / 1000:.1f} J, reasons: {reasons}", file=out)
        except GpuError as exc:
            ok = False
            print(f"GPU {i}: cannot be read -- {exc}", file=out)
    return ok, pin_ok


def _report_other_knobs(gpu: Gpu, i: int, info: GpuInfo, out: TextIO) -> None:
    """The power limit's range and the memory clocks, and whether each may be set."""
    if info.power_limit_min_w is not None and info.power_limit_max_w is not None:
        default = f", default {info.default_power_limit_w:g} W" if info.default_power_limit_w else ""
        span = f"settable {info.power_limit_min_w:g}-{info.power_limit_max_w:g} W{default}"
    else:
        span = "range not reported (cannot be set)"
    may = gpu.power_limit_control_permitted(i)
    print(f"  power limit: {gpu.power_limit_w(i):g} W now, {span}; setting it "
          f"{'permitted' if may else 'NOT permitted (root only; use observe)'}", file=out)
    mem = info.supported_memory_clocks_mhz
    listed = ", ".join(map(str, mem)) + " MHz" if mem else "none listed (cannot be locked)"
    may_mem = gpu.clock_control_permitted(i) and bool(mem)
    print(f"  memory clocks: {listed}; locking "
          f"{'permitted' if may_mem else 'NOT permitted'}", file=out)


def _report_markers(marker_dir: Path, out: TextIO) -> None:
    markers = read_markers(marker_dir)
    if not markers:
        print(f"Clock markers: none in {marker_dir}", file=out)
        return
    for m in markers:
        state = "STALE (run 'greenllm clocks reset')" if m.is_stale() else "live"
        print(f"Clock marker, {state}: {m.describe()}", file=out)
