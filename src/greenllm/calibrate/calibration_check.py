"""The simulator against a reference dataset of real measurements, in virtual time.

For every load point of every reference cell (``greenllm.calibrate.reference``) the offline
simulator (``greenllm.sim.offline``) replays each measured repeat with the same instance
shape, max batch, token budget, workload, rate, request count and arrival seed, at the
clock the card ran at (observe mode: 1980 MHz), and reduces it the way ``greenllm
measure`` reduced the real run: TTFT / TBT (every inter-token gap) / TPOT p50, and mean
power and energy per output token over the same steady window (from the send after the
first ``ramp_fraction`` of sends to the last send). Medians over repeats on both sides.
For each cell it also bisects, in virtual time, the highest Poisson rate that meets the
cell's own SLO (TTFT and TBT at the SLO percentile, >= 90 % of the offered rate
achieved), with probes sized like the cell's search, and sets it beside the measured
max throughput.

    python -m greenllm.calibrate.calibration_check \
        --reference reports/reference/h100-2026-11-25 \
        --reference reports/reference/h100-2026-11-25-s2 \
        [--out docs/calibration.md] [--no-search] [--calibration KEY=VALUE ...] \
        [--gpu-profile h100-sxm|h200] [--gpu KEY=VALUE ...]

``--reference`` may be given several times (several sets, e.g. the sessions of one
card): their cells are pooled, each labelled with its set and instance folder. The
simulated GPU is the reference cards' profile (``greenllm.gpu.profiles``: an H200 set is
replayed on the simulated H200), or ``--gpu-profile``'s.

``--out`` rewrites only the part of the file between the markers
``<!-- calibration-check:begin -->`` and ``<!-- calibration-check:end -->`` (or writes the
table alone when the file has no markers). Results and bounds: docs/calibration.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from greenllm.calibrate.check_report import (
    POINT_METRICS,
    CheckReport,
    PointComparison,
    SearchComparison,
    render_markdown,
    summarize,
)
from greenllm.calibrate.markdown_block import (
    check_out,
    emit,
)
from greenllm.calibrate.reference import RefCell, RefPoint, RefRepeat, load_reference
from greenllm.errors import ConfigError, GreenllmError
from greenllm.gpu.profiles import profile_for_gpu_name
from greenllm.gpu.sim import SimGpuSpec
from greenllm.sim.hardware import Calibration, GpuPerfSpec
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.virtual_load import (
    Arrivals,
    ProbeSizing,
    SloSpec,
    VirtualInstance,
    max_rate_under_slo,
    point_metrics,
    requests_alone,
    start_rate_rps,
)

Progress = Callable[[str], None]


# --- one load point, one search -------------------------------------------------------


def _instance(perf: PerfModel, cell: RefCell, spec: SimGpuSpec) -> VirtualInstance:
    # observe mode at the card's own clock: the real card held 1980 MHz through every
    # window (p5 = p50 = 1980), also in the short idle gaps between iterations
    return VirtualInstance(perf, cell.max_batch, cell.max_num_batched_tokens,
                           clock_mhz=cell.clock_p50_mhz or spec.max_sm_clock_mhz,
                           gpu_spec=spec)


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(vals) if vals else None


def _arrivals(cell: RefCell) -> Arrivals:
    """The arrival process the reference run drew its schedules from (points and probes)."""
    return Arrivals(cell.arrival, cell.arrival_cv, cell.exact_rate)


def simulate_point(perf: PerfModel, cell: RefCell, point: RefPoint,
                   spec: SimGpuSpec) -> dict[str, float | None]:
    """Medians over the point's repeats, each replayed with its own arrival schedule."""
    inst = _instance(perf, cell, spec)
    arrivals = _arrivals(cell)
    per_repeat = [
        point_metrics(inst.run(cell.input_tokens, cell.output_tokens,
                               arrivals.offsets(r.rate_rps, r.n_requests, r.seed)),
                      cell.output_tokens, cell.ramp_fraction)
        for r in point.repeats
    ]
    return {m: _median([r[m] for r in per_repeat]) for m in POINT_METRICS}


def reference_point(point: RefPoint) -> dict[str, float | None]:
    def med(get: Callable[[RefRepeat], float | None]) -> float | None:
        return _median([get(r) for r in point.repeats])

    return {
        "ttft_p50_s": med(lambda r: r.ttft_p50_s),
        "tbt_p50_s": med(lambda r: r.tbt_p50_s),
        "tpot_p50_s": med(lambda r: r.tpot_p50_s),
        "power_mean_w": med(lambda r: r.power_mean_w),
        "j_per_token": med(lambda r: r.j_per_token),
    }


def simulate_max_throughput(perf: PerfModel, cell: RefCell,
                            spec: SimGpuSpec) -> tuple[float | None, int]:
    """The cell's own SLO and probe sizing, bisected in virtual time from the rate
    ``greenllm measure`` starts at (not from the measured answer)."""
    if cell.slo_ttft_s is None or cell.slo_tbt_s is None:
        return None, 0
    s = cell.search
    inst = _instance(perf, cell, spec)
    start_rps = start_rate_rps(inst, requests_alone(inst, cell.input_tokens,
                                                    cell.output_tokens))
    return max_rate_under_slo(
        inst, cell.input_tokens, cell.output_tokens,
        SloSpec(cell.slo_ttft_s, cell.slo_tbt_s, cell.slo_percentile),
        ProbeSizing(s.requests_per_probe, s.probe_min_duration_s, s.probe_max_duration_s),
        start_rps=start_rps, seed=cell.load_seed + 1,
        arrivals=_arrivals(cell))


# --- the whole check ----------------------------------------------------------------


def run_check(
    reference: str | Path | Sequence[str | Path],
    *,
    calibration: Calibration | None = None,
    gpu_spec: SimGpuSpec | None = None,
    search: bool = True,
    progress: Progress | None = None,
    gpu_profile: str | None = None,
    gpu_overrides: dict[str, str] | None = None,
) -> CheckReport:
    """Replay every cell of one reference set, or of several pooled (``reference`` a
    list of set folders), and compare. The simulated GPU: ``gpu_spec``, else the
    profile ``gpu_profile`` (default: the reference cards') with ``gpu_overrides``."""
    t_start = time.monotonic()
    roots = ([Path(reference)] if isinstance(reference, (str, Path))
             else [Path(r) for r in reference])
    if not roots:
        raise ConfigError("no reference folder given")
    cells = [c for root in roots for c in load_reference(root)]
    cal = calibration or Calibration()
    spec = gpu_spec or gpu_spec_with_overrides(gpu_overrides or {},
                                               gpu_profile or reference_profile(cells))
    report = CheckReport(references=roots, points=[], searches=[], calibration=cal,
                         gpu_profile=spec.profile,
                         gpu_names=tuple(sorted({c.gpu_name for c in cells if c.gpu_name})))
    perfs: dict[tuple[str, int], PerfModel] = {}
    for k, cell in enumerate(cells, 1):
        key = (cell.model, cell.tp)
        if key not in perfs:
            perfs[key] = PerfModel(cell.shape, GpuPerfSpec.for_profile(spec.profile), cell.tp,
                                   cal)
        perf = perfs[key]
        for point in cell.points:
            report.points.append(PointComparison(
                cell=cell, point=point.name, rate_rps=statistics.median(
                    r.rate_rps for r in point.repeats),
                n_repeats=len(point.repeats), ref=reference_point(point),
                sim=simulate_point(perf, cell, point, spec)))
        if search:
            sim_rps, probes = simulate_max_throughput(perf, cell, spec)
            report.searches.append(SearchComparison(
                cell=cell, ref_rps=cell.search.rps, ref_lower_rps=cell.search.lower_rps,
                ref_upper_rps=cell.search.upper_rps, sim_rps=sim_rps, probes=probes))
        if progress:
            progress(f"calibration check: {k}/{len(cells)} cells ({cell.label}), "
                     f"{time.monotonic() - t_start:.1f} s")
    report.summary = summarize(report)
    for key in dict.fromkeys(c.instance_key for c in cells):
        report.by_instance[key] = summarize(
            report, lambda c, k=key: c.instance_key == k)  # type: ignore[misc]
    report.elapsed_s = time.monotonic() - t_start
    return report


def _parse_overrides(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--calibration wants KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def reference_profile(cells: Sequence[RefCell]) -> str:
    """The one GPU profile of the reference's cards (by their NVML names)."""
    names = sorted({c.gpu_name for c in cells if c.gpu_name})
    profiles = {profile_for_gpu_name(n) for n in names}
    if len(profiles) != 1 or None in profiles:
        raise ConfigError("cannot tell one GPU profile from the reference's cards "
                          f"({', '.join(names) or 'no GPU name recorded'}): give --gpu-profile")
    return str(profiles.pop())


def gpu_spec_with_overrides(overrides: dict[str, str], profile: str = "h100-sxm") -> SimGpuSpec:
    """The shipped ``SimGpuSpec`` of ``profile`` with some numeric constants replaced."""
    base = SimGpuSpec.for_profile(profile)
    values: dict[str, float] = {}
    for key, raw in overrides.items():
        current = getattr(base, key, None)
        if key not in SimGpuSpec.__dataclass_fields__ or isinstance(current, (bool, str)):
            known = sorted(k for k, v in dataclasses.asdict(base).items()
                           if not isinstance(v, (bool, str)))
            raise ConfigError(f"unknown numeric SimGpuSpec constant {key}; known: "
                              f"{', '.join(known)}")
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"SimGpuSpec constant {key}={raw!r} is not a number") from None
        if not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"SimGpuSpec constant {key}={value} must be >= 0")
        values[key] = type(current)(value) if isinstance(current, int) else value
    return dataclasses.replace(base, **values)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m greenllm.calibrate.calibration_check",
        description="Replay a reference dataset of measured cells in the simulator (virtual "
        "time) and print the error per metric.")
    p.add_argument("--reference", required=True, action="append", metavar="DIR",
                   help="a reference set, e.g. reports/reference/h100-2026-11-25; repeat "
                   "it to pool several sets")
    p.add_argument("--out", metavar="MD", help="write the tables into this Markdown file "
                   "(between its calibration-check markers, if it has them)")
    p.add_argument("--no-search", action="store_true",
                   help="skip the max-throughput bisection (faster)")
    p.add_argument("--calibration", action="append", default=[], metavar="KEY=VALUE",
                   help="override a greenllm.sim.hardware.Calibration constant (repeatable)")
    p.add_argument("--gpu-profile", metavar="NAME",
                   help="simulate this GPU profile (h100-sxm, h200; config/measure/gpu/); "
                   "default: the reference cards' own")
    p.add_argument("--gpu", action="append", default=[], metavar="KEY=VALUE",
                   help="override a numeric greenllm.gpu.sim.SimGpuSpec constant, e.g. "
                   "power_limit_tau_s=0.05 (repeatable)")
    args = p.parse_args(argv)
    try:
        cal = Calibration().with_overrides(_parse_overrides(args.calibration))
        overrides = _parse_overrides(args.gpu)
        if args.gpu_profile:  # a bad name or constant fails before any reading
            gpu_spec_with_overrides(overrides, args.gpu_profile)
        for ref in args.reference:
            if not Path(ref).is_dir():
                raise ConfigError(f"reference folder not found: {ref}")
        check_out(args.out)
        report = run_check(args.reference, calibration=cal, gpu_profile=args.gpu_profile,
                           gpu_overrides=overrides, search=not args.no_search,
                           progress=lambda m: print(m, file=sys.stderr, flush=True))
        emit(render_markdown(report), args.out, "calibration check")
    except GreenllmError as err:
        print(f"greenllm: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
