"""The paper's workload study run on the simulator in virtual time, and its four claims.

For one instance (default: Llama-2-70B shape, TP8, max batch 64, as the paper) and each
of the nine workloads, at each pinned clock: the SLO from requests sent alone at the
highest clock (times ``--slo-scale`` at p90, as ``greenllm measure``), the max
throughput under it (virtual-time bisection, probes sized like ``search=paper``), and a
medium load point at half that rate (sized like ``load=paper``) for TTFT, TBT, max and
mean power and energy per request. The results go through the project's own claim
checks (``greenllm.analysis.paper_claims``) so the comparison with the paper uses the
same definitions as for measured cells.

    python -m greenllm.calibrate.clock_sweep [--model llama2-70b --tp 8 --max-batch 64]
        [--clocks 800,1000,1200,1400,1600,1800,1980] [--workloads S-S,M-M,...]
        [--out docs/calibration.md]

``--out`` rewrites the part of the file between ``<!-- clock-sweep:begin -->`` and
``<!-- clock-sweep:end -->``. Nothing here is a measurement: it shows what the
simulator's clock model implies (docs/calibration.md says which parts are validated).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenllm.analysis import paper_claims as pc
from greenllm.analysis.claim_helpers import NotMeasurable
from greenllm.analysis.flatten import rows_to_frame
from greenllm.analysis.studies import parse_study
from greenllm.calibrate.markdown_block import check_out, emit
from greenllm.engine.capacity import PAPER_PROBE
from greenllm.errors import ConfigError, GreenllmError
from greenllm.gpu.sim import SimGpuSpec
from greenllm.load.shapes import SHAPES
from greenllm.load.workloads import PAPER_WORKLOADS, Workload, parse_workload
from greenllm.sim.hardware import Calibration, GpuPerfSpec
from greenllm.sim.model_shape import ModelShape
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

PAPER_CLOCKS_MHZ = (800, 1000, 1200, 1400, 1600, 1800, 1980)
SEARCH_PAPER = ProbeSizing(*PAPER_PROBE)  # config/measure/search/paper.yaml
LOAD_PAPER = ProbeSizing(200, 20.0, 180.0)  # config/measure/load/paper.yaml
MEDIUM_FRACTION = 0.5  # config/measure/load/paper.yaml fractions.medium
BASELINE_REQUESTS = 5  # config/measure/slo/paper.yaml
BEGIN_MARKER = "<!-- clock-sweep:begin -->"
END_MARKER = "<!-- clock-sweep:end -->"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SweepPoint:
    workload: Workload
    clock_mhz: int
    slo: SloSpec
    max_rps: float | None
    medium_rps: float | None
    metrics: dict[str, float | None]  # of the medium load point (point_metrics keys)


def shape_of(model: str) -> ModelShape:
    cfg = SHAPES.get(model)
    if cfg is None:
        raise ConfigError(f"unknown model {model!r}: use one of {', '.join(SHAPES)}")
    return ModelShape.from_dims(cfg, model)


def baseline_slo(inst: VirtualInstance, wl: Workload, scale: float,
                 percentile: float = 90.0) -> tuple[SloSpec, float]:
    """(SLO, first search rate) from requests sent alone, as ``greenllm measure``."""
    res = requests_alone(inst, wl.input_tokens, wl.output_tokens, BASELINE_REQUESTS)
    ttft = np.asarray(res.first_token_s) - np.asarray(res.arrivals_s)
    slo = SloSpec(scale * float(np.percentile(ttft, percentile)),
                  scale * float(np.percentile(res.itl_s, percentile)), percentile)
    return slo, start_rate_rps(inst, res)


def sweep(
    model: str = "llama2-70b",
    tp: int = 8,
    max_batch: int = 64,
    workloads: Sequence[Workload] = PAPER_WORKLOADS,
    clocks_mhz: Sequence[int] = PAPER_CLOCKS_MHZ,
    *,
    calibration: Calibration | None = None,
    gpu_spec: SimGpuSpec | None = None,
    slo_scale: float = 3.0,
    progress: Progress | None = None,
) -> list[SweepPoint]:
    spec = gpu_spec or SimGpuSpec.h100_sxm()
    perf = PerfModel(shape_of(model), GpuPerfSpec.h100_sxm(), tp, calibration)
    for mhz in clocks_mhz:
        if not spec.min_sm_clock_mhz <= mhz <= spec.max_sm_clock_mhz:
            raise ConfigError(f"clock {mhz} MHz is outside {spec.min_sm_clock_mhz}-"
                              f"{spec.max_sm_clock_mhz} MHz")
    top = max(clocks_mhz)
    out: list[SweepPoint] = []
    t0 = time.monotonic()
    for wl in workloads:
        slo, start = baseline_slo(
            VirtualInstance(perf, max_batch, clock_mhz=top, gpu_spec=spec), wl, slo_scale)
        for mhz in sorted(clocks_mhz):
            inst = VirtualInstance(perf, max_batch, clock_mhz=mhz, gpu_spec=spec)
            max_rps, _ = max_rate_under_slo(inst, wl.input_tokens, wl.output_tokens, slo,
                                            SEARCH_PAPER, start_rps=start, seed=1)
            metrics: dict[str, float | None] = {}
            medium = MEDIUM_FRACTION * max_rps if max_rps else None
            if medium:
                arrivals = Arrivals().offsets(medium, LOAD_PAPER.count(medium), seed=1000)
                metrics = point_metrics(inst.run(wl.input_tokens, wl.output_tokens, arrivals),
                                        wl.output_tokens)
            out.append(SweepPoint(wl, mhz, slo, max_rps, medium, metrics))
        if progress:
            progress(f"clock sweep: {wl.id} done ({time.monotonic() - t0:.0f} s)")
    return out


# --- the paper's claims, with the project's own checks --------------------------------


def to_table(points: Sequence[SweepPoint], model: str, tp: int, max_batch: int) -> pd.DataFrame:
    """The sweep as a cells table (``greenllm.analysis.flatten`` columns), simulated."""
    rows = []
    for p in points:
        m = p.metrics
        rows.append({
            "instance_id": f"{model}_tp{tp}_b{max_batch}", "model": model, "tp": tp,
            "max_batch": max_batch, "engine": "sim-virtual", "n_gpus": float(tp),
            "clock_label": f"f{p.clock_mhz}", "clock_mode": "pin",
            "clock_requested_mhz": float(p.clock_mhz), "clock_mhz": float(p.clock_mhz),
            "workload_id": p.workload.id, "input_tokens": float(p.workload.input_tokens),
            "output_tokens": float(p.workload.output_tokens), "load_point": "medium",
            "repeat": 0, "status": "ok" if p.max_rps else "no_max_throughput",
            "error": None if p.max_rps else "no max throughput: no simulated rate met the SLO",
            "simulated": True, "rate_rps": p.medium_rps,
            "ttft_p50_s": m.get("ttft_p50_s"), "tbt_p50_s": m.get("tbt_p50_s"),
            "tpot_p50_s": m.get("tpot_p50_s"), "power_mean_w": m.get("power_mean_w"),
            "power_max_w": m.get("power_max_w"),
            "energy_per_request_j": m.get("j_per_request"),
            "energy_per_output_token_j": m.get("j_per_token"),
            "max_throughput_rps": p.max_rps, "search_repeat": 0, "flags": "", "throttle_reasons": "",
            "slo_percentile": p.slo.percentile, "slo_ttft_s": p.slo.ttft_s,
            "slo_tbt_s": p.slo.tbt_s,
        })
    return rows_to_frame(rows)


def paper_claims(table: pd.DataFrame, model: str, tp: int, max_batch: int,
                 workloads: Sequence[Workload], clocks_mhz: Sequence[int]) -> list[tuple[str, str, str]]:
    """(claim, simulated result, verdict) for the four clock claims of §IV-A."""
    study = parse_study("workload", {"tp": tp, "max_batch": max_batch, "load": "medium",
                                     "workloads": [w.id for w in workloads],
                                     "clocks": list(clocks_mhz), "model": model})
    checks = (
        ("Halving the clock costs S-S only ~20 % max throughput", pc.half_clock_ss_throughput),
        ("TTFT's clock sensitivity grows with prompt length", pc.ttft_sensitivity_grows_with_prompt),
        ("TBT's clock response is about the same for all lengths",
         pc.tbt_response_same_for_all_lengths),
        ("~20 % lower max power at no latency or throughput cost", pc.power_cut_without_cost),
    )
    out = []
    for text, check in checks:
        try:
            m = check(table, {"workload": study})
            out.append((text, m.text, m.verdict))
        except NotMeasurable as err:
            out.append((text, f"not measurable: {err}", "n/a"))
    return out


def render_markdown(points: Sequence[SweepPoint], claims: Sequence[tuple[str, str, str]],
                    header: str) -> str:
    clocks = sorted({p.clock_mhz for p in points})
    by = {(p.workload.id, p.clock_mhz): p for p in points}
    wls = list(dict.fromkeys(p.workload.id for p in points))
    lines = [header, ""]

    def table(title: str, value: Callable[[SweepPoint], float | None], fmt: str) -> None:
        lines.extend([f"{title}:", "", "| workload | " + " | ".join(f"{c} MHz" for c in clocks)
                      + " |", "|---|" + "---|" * len(clocks)])
        for wl in wls:
            cells = []
            for c in clocks:
                v = value(by[(wl, c)]) if (wl, c) in by else None
                cells.append("–" if v is None else format(v, fmt))
            lines.append(f"| {wl} | " + " | ".join(cells) + " |")
        lines.append("")

    def metric(key: str, scale: float = 1.0) -> Callable[[SweepPoint], float | None]:
        def get(p: SweepPoint) -> float | None:
            v = p.metrics.get(key)
            return None if v is None else v * scale
        return get

    table("TTFT p50 at medium load (ms)", metric("ttft_p50_s", 1e3), ".0f")
    table("TBT p50 at medium load (ms)", metric("tbt_p50_s", 1e3), ".1f")
    table("Max throughput under SLO (req/s)", lambda p: p.max_rps, ".2f")
    table("Max power at medium load, all GPUs (W)", metric("power_max_w"), ".0f")
    table("Mean power at medium load, all GPUs (W)", metric("power_mean_w"), ".0f")
    table("Energy per request at medium load (J)", metric("j_per_request"), ".0f")
    lines += ["The paper's statements (§IV-A) checked on these simulated cells with the "
              "project's own claim checks (`greenllm.analysis.paper_claims`):", "",
              "| paper | simulator | verdict |", "|---|---|---|"]
    lines += [f"| {c} | {r} | {v} |" for c, r, v in claims]
    return "\n".join(lines) + "\n"


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--clocks wants comma-separated integers (MHz), got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m greenllm.calibrate.clock_sweep",
                                description="The workload study on the simulator, in virtual "
                                "time, and the paper's clock claims checked on it.")
    p.add_argument("--model", default="llama2-70b", help=f"one of {', '.join(SHAPES)}")
    p.add_argument("--tp", type=int, default=8)
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--clocks", default=",".join(map(str, PAPER_CLOCKS_MHZ)), metavar="MHZ,...")
    p.add_argument("--workloads", default=",".join(w.id for w in PAPER_WORKLOADS),
                   metavar="ID,...")
    p.add_argument("--slo-scale", type=float, default=3.0)
    p.add_argument("--out", metavar="MD", help="write the tables into this Markdown file "
                   "(between its clock-sweep markers, if it has them)")
    args = p.parse_args(argv)
    try:
        workloads = [parse_workload(w) for w in args.workloads.split(",") if w.strip()]
        clocks = _ints(args.clocks)
        if len(clocks) < 2:
            raise ConfigError("--clocks needs at least two clocks")
        check_out(args.out)
        t0 = time.monotonic()
        points = sweep(args.model, args.tp, args.max_batch, workloads, clocks,
                       slo_scale=args.slo_scale,
                       progress=lambda m: print(m, file=sys.stderr, flush=True))
        table = to_table(points, args.model, args.tp, args.max_batch)
        claims = paper_claims(table, args.model, args.tp, args.max_batch, workloads, clocks)
        header = (f"Simulated (virtual time, shipped calibration): {args.model} shape, TP{args.tp}, "
                  f"max batch {args.max_batch}, clocks pinned; SLO = {args.slo_scale:g} × p90 "
                  f"TTFT/TBT of requests sent alone at {max(clocks)} MHz; medium load = "
                  f"{MEDIUM_FRACTION:g} × the max throughput at each clock "
                  f"({time.monotonic() - t0:.0f} s to compute). "
                  "`python -m greenllm.calibrate.clock_sweep` regenerates it.")
        emit(render_markdown(points, claims, header), args.out, "clock sweep", BEGIN_MARKER,
             END_MARKER)
    except GreenllmError as err:
        print(f"greenllm: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
