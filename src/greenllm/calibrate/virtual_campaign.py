"""A whole measurement campaign run on the simulator in virtual time, under a policy.

What ``greenllm measure`` does for every planned instance (engine start, SLO baselines,
per clock: settle and warm up, search the max throughput, run the load points, repeat),
with every request served by ``greenllm.sim.offline`` in virtual time: the paper's grid
(7 instances, 105 cells) runs in about a minute and every second of GPU time is
accounted by the same ``SpendLedger`` a real run writes. The decisions come from the
package's own policy code (``measure.adaptive`` for repeats, ``search.warm_start`` or
``search.find_max_throughput`` for the search), so what this measures is what a real
campaign under that policy would do, up to the simulator's fidelity.

Noise: repeats differ only by their arrival draws (a different seed per repeat, as in
``greenllm measure``); the simulator has no thermal drift or host jitter, so its
intervals are narrower than a real GPU's (docs/uncertainty.md has measured spreads).
Engine start and clock settling take the durations the plan's estimate assumes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenllm.analysis.flatten import rows_to_frame
from greenllm.calibrate.clock_sweep import shape_of
from greenllm.load.workloads import parse_workload
from greenllm.measure.adaptive import RepeatPolicy, decide
from greenllm.measure.spend import SpendLedger
from greenllm.plan.estimate import engine_start_s, model_params
from greenllm.plan.grid import Instance, Plan
from greenllm.search.max_throughput import ProbeResult, find_max_throughput
from greenllm.search.warm_start import Prior, prior_from_neighbours, warm_search
from greenllm.sim.hardware import GpuPerfSpec
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.virtual_load import (
    Arrivals,
    ProbeSizing,
    SloSpec,
    VirtualInstance,
    max_rate_under_slo,
    meets_slo,
    point_metrics,
    start_rate_rps,
)

CLOCK_SETTLE_S = 5.0  # greenllm.plan.estimate's assumption for a clock change


@dataclass(frozen=True)
class CampaignPolicy:
    name: str
    repeats: RepeatPolicy
    warm_search: bool
    # The simulator's prediction (the warm search's prior before any clock is measured)
    # is taken as this factor times the true capacity: a simulator predicting itself
    # would be an oracle, a real GPU differs from its model.
    prediction_error: float = 1.3
    # load.exact_rate: probes and load points send at exactly their nominal rate (False:
    # as drawn, the benchmark's fixed baseline; measure's default is True since 2026-12-07)
    exact_rate: bool = False

    @property
    def arrivals(self) -> Arrivals:
        return Arrivals(exact_rate=self.exact_rate)


@dataclass(frozen=True)
class Settings:
    """The measure groups a campaign uses (``greenllm.plan.load_measure_groups``)."""

    search: Mapping[str, Any]
    load: Mapping[str, Any]
    slo: Mapping[str, Any]

    @property
    def probe_sizing(self) -> ProbeSizing:
        s = self.search
        return ProbeSizing(int(s["requests_per_probe"]), float(s["probe_min_duration_s"]),
                           float(s["probe_max_duration_s"]))

    @property
    def point_sizing(self) -> ProbeSizing:
        lo = self.load
        return ProbeSizing(int(lo.get("requests_per_point", 200)),
                           float(lo.get("min_duration_s", 10.0)), float(lo["max_duration_s"]))


@dataclass
class InstanceRun:
    instance: Instance
    ledger: SpendLedger
    rows: list[dict[str, Any]] = field(default_factory=list)
    stops: dict[tuple[str, str], str | None] = field(default_factory=dict)


def _params(model: str) -> float:
    from greenllm.load.shapes import SHAPES

    return model_params(SHAPES[model])


def run_instance(inst: Instance, settings: Settings, policy: CampaignPolicy,
                 clocks_mhz: Sequence[int]) -> InstanceRun:
    """One instance's cells under ``policy`` (see module)."""
    perf = PerfModel(shape_of(inst.model), GpuPerfSpec.h100_sxm(), inst.tp)
    out = InstanceRun(inst, SpendLedger(gpus=inst.tp))
    ledger = out.ledger
    start = engine_start_s(_params(inst.model))
    ledger.engine_started(start)
    ledger.hold(start)
    slo_cfg, load = settings.slo, settings.load
    top = max(clocks_mhz)
    workloads = [parse_workload(w) for w in inst.workloads]
    slos: dict[str, SloSpec] = {}
    starts: dict[str, float] = {}
    for wl in workloads:  # SLO baselines: requests alone, one after another, at the top clock
        alone = VirtualInstance(perf, inst.max_batch, clock_mhz=top).run(
            wl.input_tokens, wl.output_tokens,
            np.arange(int(slo_cfg.get("baseline_requests", 5)), dtype=float) * 600.0)
        e2e = np.asarray(alone.last_token_s) - np.asarray(alone.arrivals_s)
        ledger.hold(float(e2e.sum()))
        ttft = np.asarray(alone.first_token_s) - np.asarray(alone.arrivals_s)
        pct = float(slo_cfg.get("percentile", 90.0))
        scale = float(slo_cfg.get("scale", 3.0))
        slos[wl.id] = SloSpec(scale * float(np.percentile(ttft, pct)),
                              scale * float(np.percentile(alone.itl_s, pct)), pct)
        starts[wl.id] = start_rate_rps(VirtualInstance(perf, inst.max_batch, clock_mhz=top), alone)
    # LoadCfg's defaults where the profile sets none
    fractions = {"low": 0.25, "medium": 0.5, "high": 0.9, **dict(load.get("fractions") or {})}
    points = [(name, float(fractions[name])) for name in inst.loads]
    cells = [(mhz, wl) for mhz in clocks_mhz for wl in workloads]
    state: dict[tuple[int, str], dict[str, Any]] = {
        (mhz, wl.id): {"values": {}, "stop": None, "search": None, "closed": {}}
        for mhz, wl in cells}
    brackets: dict[str, dict[int, tuple[float | None, float | None]]] = {w.id: {} for w in workloads}
    warm_n = int(load.get("warmup_requests", 8))
    for r in range(policy.repeats.cap):
        for mhz in clocks_mhz:
            group = [wl for wl in workloads if state[(mhz, wl.id)]["stop"] is None]
            if not group:
                continue
            vinst = VirtualInstance(perf, inst.max_batch, clock_mhz=mhz)
            ledger.hold(CLOCK_SETTLE_S)
            if warm_n > 0:  # warm-up requests after the clock change, as greenllm measure
                rate = max(1.0, warm_n / 2.0)
                res = vinst.run(group[0].input_tokens, group[0].output_tokens,
                                policy.arrivals.offsets(rate, warm_n, 999_999))
                ledger.hold(res.duration_s)
            for wl in group:
                st = state[(mhz, wl.id)]
                if r == 0:
                    st["search"] = _search(vinst, wl, slos[wl.id], settings, policy, ledger,
                                           brackets[wl.id], mhz, starts[wl.id], perf, inst)
                    brackets[wl.id][mhz] = (st["search"]["lower_rps"], st["search"]["upper_rps"])
                max_rps = st["search"]["rps"]
                for i, (name, frac) in enumerate(points):
                    if name in st["closed"]:  # stopped on its own targets (stop_per=point)
                        continue
                    row = _point_row(inst, mhz, wl, name, frac, max_rps, r, st["search"],
                                     slos[wl.id])
                    if max_rps:
                        rate = frac * max_rps
                        n = settings.point_sizing.count(rate)
                        arrivals = policy.arrivals.offsets(rate, n, 1000 * (r + 1) + i)
                        res = vinst.run(wl.input_tokens, wl.output_tokens, arrivals)
                        ledger.hold(res.duration_s)
                        ledger.window(res.duration_s, "point")
                        m = point_metrics(res, wl.output_tokens,
                                          float(load.get("ramp_fraction", 0.1)))
                        row.update(_metric_columns(m))
                        for metric in policy.repeats.targets:
                            st["values"].setdefault((name, metric), []).append(
                                row.get(metric) if row.get(metric) is not None else np.nan)
                    out.rows.append(row)
                ledger.repeats += 1
                decision = decide(policy.repeats, st["values"], r + 1)
                if decision.stop:
                    st["stop"] = decision.reason
                if policy.repeats.adaptive and policy.repeats.per_point:
                    st["closed"] = {p: why for p, why in decision.points.items() if why}
    for (mhz, wid), st in state.items():
        out.stops[(f"f{mhz}", wid)] = st["stop"]
        for row in out.rows:
            if row["clock_label"] == f"f{mhz}" and row["workload_id"] == wid:
                row["repeat_stop"] = st["closed"].get(row["load_point"], st["stop"])
    return out


def _search(vinst: VirtualInstance, wl: Any, slo: SloSpec, settings: Settings,
            policy: CampaignPolicy, ledger: SpendLedger,
            brackets: Mapping[int, tuple[float | None, float | None]], mhz: int,
            cold_start: float, perf: PerfModel, inst: Instance) -> dict[str, Any]:
    s = settings.search
    sizing = settings.probe_sizing
    seeds = iter(range(1, 10_000))

    def probe(rate: float) -> ProbeResult:
        res = vinst.run(wl.input_tokens, wl.output_tokens,
                        policy.arrivals.offsets(rate, sizing.count(rate), next(seeds)))
        ledger.hold(res.duration_s)
        ledger.window(res.duration_s, "probe")
        return ProbeResult(rate_rps=rate, meets_slo=meets_slo(res, slo), duration_s=res.duration_s)

    kw = {"max_probes": int(s["max_probes"]), "rel_tol": float(s["rel_tol"]),
          "min_rps": float(s["min_rps"]), "max_rps": float(s["max_rps"])}
    prior: Prior | None = None
    if policy.warm_search:
        prior = prior_from_neighbours(brackets, mhz)
        if prior is None:
            predicted = predicted_capacity(vinst, wl, slo, sizing)
            prior = Prior(predicted * policy.prediction_error, None, "simulator prediction") \
                if predicted else None
    if prior is not None:
        result = warm_search(probe, prior, **kw)
    else:
        result = find_max_throughput(probe, start_rps=cold_start, **kw)
    return {"rps": result.rps, "lower_rps": result.lower_rps, "upper_rps": result.upper_rps,
            "probes": len(result.probes), "converged": result.converged,
            "prior": None if prior is None else prior.source}


def predicted_capacity(vinst: VirtualInstance, wl: Any, slo: SloSpec,
                       sizing: ProbeSizing) -> float | None:
    """The simulator's own answer (no GPU time: a prediction made before measuring)."""
    rate, _ = max_rate_under_slo(vinst, wl.input_tokens, wl.output_tokens, slo, sizing,
                                 start_rps=max(0.1, 0.25 * vinst.max_num_seqs))
    return rate


def _metric_columns(m: Mapping[str, Any]) -> dict[str, Any]:
    return {"ttft_p50_s": m.get("ttft_p50_s"), "tbt_p50_s": m.get("tbt_p50_s"),
            "tpot_p50_s": m.get("tpot_p50_s"), "power_mean_w": m.get("power_mean_w"),
            "power_max_w": m.get("power_max_w"),
            "energy_per_request_j": m.get("j_per_request"),
            "energy_per_output_token_j": m.get("j_per_token")}


def _point_row(inst: Instance, mhz: int, wl: Any, name: str, frac: float,
               max_rps: float | None, repeat: int, search: Mapping[str, Any],
               slo: SloSpec) -> dict[str, Any]:
    return {
        "instance_id": inst.id, "model": inst.model, "tp": inst.tp, "max_batch": inst.max_batch,
        "engine": "sim-virtual", "n_gpus": float(inst.tp), "clock_label": f"f{mhz}",
        "clock_mode": "pin", "clock_requested_mhz": float(mhz), "clock_mhz": float(mhz),
        "workload_id": wl.id, "input_tokens": float(wl.input_tokens),
        "output_tokens": float(wl.output_tokens), "load_point": name, "fraction_of_max": frac,
        "repeat": repeat, "status": "ok" if max_rps else "failed", "error": None,
        "simulated": True, "rate_rps": frac * max_rps if max_rps else None,
        "max_throughput_rps": max_rps, "max_throughput_lower_rps": search.get("lower_rps"),
        "max_throughput_upper_rps": search.get("upper_rps"), "search_repeat": 0,
        "flags": "" if max_rps else "no_max_throughput", "throttle_reasons": "",
        "slo_percentile": slo.percentile, "slo_ttft_s": slo.ttft_s, "slo_tbt_s": slo.tbt_s,
    }


@dataclass
class CampaignResult:
    policy: CampaignPolicy
    runs: list[InstanceRun]

    @property
    def table(self) -> pd.DataFrame:
        return rows_to_frame([row for run in self.runs for row in run.rows])

    @property
    def gpu_s_held(self) -> float:
        return sum(r.ledger.gpu_s_held for r in self.runs)

    @property
    def gpu_s_in_windows(self) -> float:
        return sum(r.ledger.gpu_s_in_windows for r in self.runs)

    @property
    def probes(self) -> int:
        return sum(r.ledger.probes for r in self.runs)

    @property
    def engine_starts(self) -> int:
        return sum(r.ledger.engine_starts for r in self.runs)

    def stops(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for run in self.runs:
            for reason in run.stops.values():
                out[str(reason)] = out.get(str(reason), 0) + 1
        return out

    def point_stops(self) -> dict[str, int]:
        """Load points by why they stopped and after how many repeats (e.g. "cap@5")."""
        table = self.table
        table = table[table["rate_rps"].notna()]
        key = ["instance_id", "clock_label", "workload_id", "load_point"]
        per = table.groupby(key, dropna=False).agg(
            stop=("repeat_stop", "first"), n=("repeat", "nunique"))
        counts = (per["stop"].astype(str) + "@" + per["n"].astype(str)).value_counts()
        return {k: int(v) for k, v in sorted(counts.items())}


def run_campaign(plan: Plan, settings: Settings, policy: CampaignPolicy,
                 progress: Callable[[str], None] | None = None) -> CampaignResult:
    clocks = [int(m) for m in plan.config["clocks"]["mhz"]]
    runs = []
    for inst in plan.instances:
        runs.append(run_instance(inst, settings, policy, clocks))
        if progress:
            progress(f"{policy.name}: {inst.id} done")
    return CampaignResult(policy, runs)
