"""The expected GPU-hours of a plan under its repeat and search policies.

``estimate`` is an upper bound (every probe and load point at its longest, every cell at
the repeat cap). This is the expected spend a user budgets for: each cell's capacity
is predicted by the simulator (``greenllm.sim``, virtual time, no GPU), which sizes its
probes and load points (``requests / rate`` within the min/max durations); the counts
come from the policies:

* repeats: the fixed ``load.repeats``; for adaptive repeats, the fewest (>= 3, <= the
  cap) whose Student t interval meets every target at the run-to-run noise: one
  ``noise_cv`` for every metric (coefficient of variation over repeats: about 10 % on
  the lent H100, docs/uncertainty.md; the simulator's arrival draws alone give 1-10 %),
  or ``Noise`` read from a pilot run's table (``noise_from_table``: each load point's
  expected repeats are the mean of what its pilot points' own CVs need);
* probes: ``EXPECTED_COLD_PROBES`` for a cold search, ``EXPECTED_WARM_PROBES`` for a
  warm one (first clock of a workload: ``EXPECTED_FIRST_WARM_PROBES``), counts measured
  over the paper grid by ``benchmarks/campaign_cost.py``;
* overheads: the engine starts (one per instance; with ``load.engine_starts`` = k, the
  blocks of repeat rounds the expected repeats reach: ``measure.engine_starts.start_of``),
  SLO baselines, and per repeat and clock a clock settle and the warm-up requests.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from greenllm.analysis.uncertainty import CI_LEVEL, t_quantile
from greenllm.measure.engine_starts import start_of
from greenllm.plan.estimate import (
    _CLOCK_SETTLE_S,
    engine_start_s,
    engine_starts,
    load_measure_groups,
    model_params,
)
from greenllm.plan.grid import Instance, Plan

# Probes per search measured over the paper grid on the simulator (campaign_cost.py)
EXPECTED_COLD_PROBES = 5.5
EXPECTED_WARM_PROBES = 3.5
EXPECTED_FIRST_WARM_PROBES = 6.0
DEFAULT_NOISE_CV = 0.10


def expected_repeats(targets: Mapping[str, float], cap: int,
                     noise_cv: float | Mapping[str, float]) -> int:
    """Fewest repeats n in [3, cap] with t(n-1) * cv / sqrt(n) <= the target of every
    metric (``noise_cv``: one CV for all, or one per target metric)."""
    cvs = noise_cv if isinstance(noise_cv, Mapping) else dict.fromkeys(targets, noise_cv)
    for n in range(3, cap + 1):
        t = t_quantile(CI_LEVEL, n - 1)
        if all(t * cvs[m] / n ** 0.5 <= width for m, width in targets.items()):
            return n
    return cap


@dataclass(frozen=True)
class Noise:
    """Run-to-run CVs for the expected repeats: per load point, the CVs of each point of
    a pilot run (``noise_from_table``), ``default`` for a metric or load point it lacks.

    A load point's expected repeats are the mean over the pilot's points of the repeats
    each one's CVs need: an adaptive run stops each point on its own noise, so the
    noisier half of the points, which a median CV would size too short, counts too."""

    default: float = DEFAULT_NOISE_CV
    by_load: Mapping[str, Sequence[Mapping[str, float]]] = field(default_factory=dict)
    source: str | None = None

    def points(self, load: str, metrics: Iterable[str]) -> list[dict[str, float]]:
        metrics = list(metrics)
        measured = self.by_load.get(load) or [{}]
        return [{m: float(p.get(m, self.default)) for m in metrics} for p in measured]

    def repeats(self, load: str, targets: Mapping[str, float], cap: int) -> tuple[float, int]:
        """(mean, most) expected repeats of a load point over the pilot's points."""
        need = [expected_repeats(targets, cap, cvs) for cvs in self.points(load, targets)]
        return sum(need) / len(need), max(need)

    def median_cvs(self, load: str, metrics: Iterable[str]) -> dict[str, float]:
        points = self.points(load, metrics)
        return {m: statistics.median(p[m] for p in points) for m in points[0]}

    def describe(self) -> str:
        if not self.source:
            return f"noise CV {self.default:.0%}"
        return (f"the noise of {self.source} (each load point's repeats averaged over its "
                f"points' CVs; {self.default:.0%} where it has none)")


def noise_from_table(path: str | os.PathLike[str], default: float = DEFAULT_NOISE_CV) -> Noise:
    """Every load point's run-to-run CVs from a pilot run's table (``greenllm
    aggregate``'s cells table or its statistics table; points with >= 2 repeats), grouped
    by load point label. One clear error for a table with no repeated point."""
    from greenllm.analysis.aggregate import load_table
    from greenllm.analysis.statistics import STAT_METRICS, ensure_statistics
    from greenllm.errors import GreenllmError

    stats = ensure_statistics(load_table(path))
    columns = [m for m in STAT_METRICS if f"{m}_cv" in stats.columns]
    by_load: dict[str, list[dict[str, float]]] = {}
    for row in stats.itertuples(index=False):
        cvs = {m: abs(float(v)) for m in columns
               if math.isfinite(v := float(getattr(row, f"{m}_cv")))}
        if cvs:
            by_load.setdefault(str(row.load_point), []).append(cvs)
    if not by_load:
        raise GreenllmError(f"{path}: no load point has 2 or more repeats, so the table "
                            "holds no run-to-run noise (a pilot run needs load.repeats >= 2)")
    return Noise(default, by_load, str(path))


@dataclass(frozen=True)
class ExpectedInstance:
    instance_id: str
    gpus: int
    held_s: float
    window_s: float
    probes: float
    repeats: int
    starts: int = 1
    repeats_by_load: Mapping[str, float] = field(default_factory=dict)  # mean per point

    @property
    def gpu_h(self) -> float:
        return self.gpus * self.held_s / 3600.0


def with_measure_defaults(groups: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The search/load/slo groups over the measure schema's own defaults (what a run
    gets for a key no profile sets)."""
    from dataclasses import asdict

    from greenllm.measure.config import LoadCfg, SearchCfg, SloCfg

    base = {"search": asdict(SearchCfg()), "load": asdict(LoadCfg()), "slo": asdict(SloCfg())}
    return {k: {**base[k], **dict(groups.get(k) or {})} for k in base}


def _as_noise(noise_cv: float | Noise) -> Noise:
    return noise_cv if isinstance(noise_cv, Noise) else Noise(noise_cv)


def _targets(load: Mapping[str, Any]) -> dict[str, float]:
    return dict(load.get("ci_targets") or {"ttft_p50_s": 0.05})


def _duration(rate: float, requests: int, min_s: float, max_s: float) -> float:
    return min(max(requests / rate, min_s), max_s)


def expected_instance(inst: Instance, groups: Mapping[str, Mapping[str, Any]],
                      clocks_mhz: list[int], warm: bool,
                      noise_cv: float | Noise = DEFAULT_NOISE_CV) -> ExpectedInstance:
    from greenllm.calibrate.clock_sweep import baseline_slo, shape_of
    from greenllm.load.shapes import SHAPES
    from greenllm.load.workloads import parse_workload
    from greenllm.sim.hardware import GpuPerfSpec
    from greenllm.sim.perf_model import PerfModel
    from greenllm.sim.virtual_load import ProbeSizing, VirtualInstance, max_rate_under_slo

    search, load, slo = groups["search"], groups["load"], groups["slo"]
    perf = PerfModel(shape_of(inst.model), GpuPerfSpec.h100_sxm(), inst.tp)
    params = model_params(SHAPES[inst.model])
    window = 0.0
    fixed = load.get("repeats")
    repeat_cap = int(fixed) if fixed is not None else int(load.get("max_repeats", 8))
    noise, targets = _as_noise(noise_cv), _targets(load)
    need = {p: (float(fixed), int(fixed)) if fixed is not None else
            noise.repeats(p, targets, repeat_cap) for p in inst.loads}
    by_load = {p: mean for p, (mean, _) in need.items()}
    repeats = max((most for _, most in need.values()), default=1)  # rounds: the slowest's
    if load.get("stop_per") == "cell":  # a cell's points wait for its slowest
        by_load = dict.fromkeys(by_load, max(by_load.values(), default=1.0))
    # a run starts the engine again only where a repeat round it reaches opens a new block
    starts = start_of(max(repeats, 1) - 1, max(repeat_cap, 1), engine_starts(load)) + 1
    held = starts * engine_start_s(params)
    fractions = {"low": 0.25, "medium": 0.5, "high": 0.9, **dict(load.get("fractions") or {})}
    sizing = ProbeSizing(int(search["requests_per_probe"]), float(search["probe_min_duration_s"]),
                         float(search["probe_max_duration_s"]))
    top = max(clocks_mhz)
    probes_total = 0.0
    for wid in inst.workloads:
        wl = parse_workload(wid)
        slo_spec, start = baseline_slo(VirtualInstance(perf, inst.max_batch, clock_mhz=top), wl,
                                       float(slo.get("scale", 3.0)),
                                       float(slo.get("percentile", 90.0)))
        alone_e2e = slo_spec.ttft_s / float(slo.get("scale", 3.0)) + wl.output_tokens * (
            slo_spec.tbt_s / float(slo.get("scale", 3.0)))
        held += int(slo.get("baseline_requests", 5)) * alone_e2e
        for k, mhz in enumerate(clocks_mhz):
            cap, _ = max_rate_under_slo(VirtualInstance(perf, inst.max_batch, clock_mhz=mhz),
                                        wl.input_tokens, wl.output_tokens, slo_spec, sizing,
                                        start_rps=start)
            cap = cap or float(search["min_rps"])
            n_probes = (EXPECTED_FIRST_WARM_PROBES if k == 0 else EXPECTED_WARM_PROBES) \
                if warm else EXPECTED_COLD_PROBES
            probe_s = n_probes * (_duration(cap, sizing.requests, sizing.min_duration_s,
                                             sizing.max_duration_s) + alone_e2e)
            points_s = sum(by_load[p] * (
                _duration(float(fractions[p]) * cap, int(load.get("requests_per_point", 200)),
                          float(load.get("min_duration_s", 10.0)), float(load["max_duration_s"]))
                + alone_e2e) for p in inst.loads)
            probes_total += n_probes
            window += probe_s + points_s
    warm_n = int(load.get("warmup_requests", 8))
    per_clock = _CLOCK_SETTLE_S + (warm_n / max(1.0, warm_n / 2.0) if warm_n else 0.0)
    held += window + repeats * len(clocks_mhz) * per_clock
    return ExpectedInstance(inst.id, inst.gpus, held, window, probes_total, repeats, starts,
                            by_load)


def expected_spend(plan: Plan, root: str | os.PathLike[str], *, warm: bool | None = None,
                   noise_cv: float | Noise = DEFAULT_NOISE_CV,
                   load_overrides: Mapping[str, Any] | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Expected GPU-hours of the plan (see module); observe mode counts one clock.
    ``progress`` gets a line per instance: the simulator's capacity searches take about
    0.1 s a cell (15 s for the paper preset)."""
    groups = with_measure_defaults(load_measure_groups(root, plan.config))
    groups["load"] = {**groups["load"], **dict(load_overrides or {})}
    clocks = [int(m) for m in plan.config["clocks"].get("mhz") or [1980]]
    if plan.config["clocks"]["mode"] == "observe":
        clocks = [max(clocks)]
    warm = bool(groups["search"].get("warm_start", True)) if warm is None else warm
    per = []
    for k, inst in enumerate(plan.instances):
        if progress is not None:
            progress(f"expected spend: instance {k + 1}/{len(plan.instances)} {inst.id} "
                     f"({len(inst.workloads) * len(clocks)} simulated capacity searches)")
        per.append(expected_instance(inst, groups, clocks, warm, noise_cv))
    noise, targets = _as_noise(noise_cv), _targets(groups["load"])
    by_load: dict[str, dict[str, Any]] = {}
    for e in per:  # per load point: the noise it was sized at, its (mean) repeats
        for label, n in e.repeats_by_load.items():
            row = by_load.setdefault(label, {"cv": noise.median_cvs(label, targets),
                                             "repeats": n})
            row["repeats"] = max(row["repeats"], n)
    return {"by_load": by_load, "adaptive": groups["load"].get("repeats") is None,
            "gpu_h": sum(e.gpu_h for e in per), "noise_cv": noise.default,
            "noise": noise.describe(), "noise_source": noise.source, "warm_search": warm,
            "repeats": sorted({e.repeats for e in per}),  # rounds per instance
            "gpu_h_in_windows": sum(e.gpus * e.window_s for e in per) / 3600.0,
            "engine_starts": sum(e.starts for e in per),
            "instances": per}
