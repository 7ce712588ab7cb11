"""Energy-optimal configurations and schedules from measured cells.

A *configuration* is (clock, TP, max batch) with ``n_gpus // tp`` instances filling a
node of ``n_gpus`` GPUs (the rest idle), the load split evenly over the instances.
``estimate`` prices one configuration over one window:

* feasible when the instances' utilisation ``u = sum_w rate_w / (instances x capacity_w)``
  is at most 1, every capacity being the SLO-holding one of ``cells.CellModel``;
* a mixed window is a time-share of its workloads' cells at the same utilisation: the
  instance power is ``sum_w (u_w / u) x power_w(u x capacity_w)`` (an assumption,
  stated in docs/planner.md), with the CI low/high carried through;
* a window beyond every configuration's capacity is priced at capacity and reported
  ``over_capacity`` with the share it cannot serve counted as SLO misses.

Strategies over a list of windows: the planner's schedule (dynamic programming with
reconfiguration costs: a clock change costs ``clock_change_s``, a TP or max-batch change
an engine restart of ``restart_s`` during which the node draws idle power and the
window's arrivals miss the SLO), and three baselines: static maximum performance (max
clock, largest TP, largest batch), the best static configuration, and a per-window
oracle without reconfiguration costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from greenllm.errors import ConfigError
from greenllm.recommend.cells import CellModel, Config, power_at
from greenllm.recommend.load import Window


@dataclass(frozen=True)
class Costs:
    n_gpus: int = 8
    idle_power_w: float = 73.0  # per GPU (the simulated H100's idle draw; set yours)
    clock_change_s: float = 0.01  # a locked-clock change under a running server: ms
    restart_s: float = 90.0  # engine restart (1B: 63-155 s measured; larger models: more)
    miss_weight_j: float = 1000.0  # DP: joules a missed request is worth avoiding


@dataclass
class Estimate:
    config: Config
    feasible: bool
    utilisation: float
    energy_j: float
    energy_lo_j: float
    energy_hi_j: float
    attainment: float  # predicted share of requests meeting the SLO
    notes: set[str] = field(default_factory=set)


def instances(cfg: Config, costs: Costs) -> int:
    return costs.n_gpus // cfg.tp


def estimate(cfg: Config, cells: dict[str, CellModel], window: Window, costs: Costs) -> Estimate | None:
    """``cfg`` over ``window``; None when the table lacks one of the window's workloads
    for this configuration."""
    k = instances(cfg, costs)
    if k < 1 or any(w not in cells for w in window.rates_rps):
        return None
    u_w = {w: r / k / cells[w].capacity_rps for w, r in window.rates_rps.items()}
    u = sum(u_w.values())
    idle_gpus = costs.n_gpus - k * cfg.tp
    idle = idle_gpus * costs.idle_power_w
    notes: set[str] = set()
    if u == 0:
        # No request: the instance at its lowest counted point is an upper bound.
        m = min(cells.values(), key=lambda c: c.power_w[0, 0])
        p = power_at(m, 0.0)
        power = (k * p.mid + idle, k * p.lo + idle, k * p.hi + idle)
        return Estimate(cfg, True, 0.0, *(x * window.duration_s for x in power), 1.0,
                        {"no_requests"})
    served = min(u, 1.0)
    mid = lo = hi = 0.0
    att = 0.0
    for w, uw in u_w.items():
        p = power_at(cells[w], served * cells[w].capacity_rps)
        share = uw / u
        mid, lo, hi = mid + share * p.mid, lo + share * p.lo, hi + share * p.hi
        att += window.rates_rps[w] * (p.attainment if math.isfinite(p.attainment) else 1.0)
        if p.note:
            notes.add(p.note)
        if not cells[w].has_ci:
            notes.add("no_ci")
    att /= window.rate_rps
    if u > 1:
        notes.add("over_capacity")
        att *= 1.0 / u
    power = (k * mid + idle, k * lo + idle, k * hi + idle)
    return Estimate(cfg, u <= 1.0, u, *(x * window.duration_s for x in power), att, notes)


@dataclass
class Step:
    window: Window
    estimate: Estimate
    change: str = ""  # "", "clock" or "restart"
    change_energy_j: float = 0.0
    change_missed: float = 0.0


@dataclass
class Strategy:
    name: str
    steps: list[Step]

    @property
    def energy_j(self) -> float:
        return sum(s.estimate.energy_j + s.change_energy_j for s in self.steps)

    @property
    def energy_lo_j(self) -> float:
        return sum(s.estimate.energy_lo_j + s.change_energy_j for s in self.steps)

    @property
    def energy_hi_j(self) -> float:
        return sum(s.estimate.energy_hi_j + s.change_energy_j for s in self.steps)

    @property
    def attainment(self) -> float:
        n = sum(s.window.n_requests for s in self.steps)
        if not n:
            return 1.0
        good = sum(s.estimate.attainment * s.window.n_requests - s.change_missed for s in self.steps)
        return max(0.0, good / n)

    @property
    def output_tokens(self) -> float:
        return sum(s.window.output_tokens for s in self.steps)

    @property
    def n_restarts(self) -> int:
        return sum(s.change == "restart" for s in self.steps)

    @property
    def n_clock_changes(self) -> int:
        return sum(s.change == "clock" for s in self.steps)

    @property
    def over_capacity_windows(self) -> int:
        return sum("over_capacity" in s.estimate.notes for s in self.steps)


def change_cost(a: Config | None, b: Config, w: Window, costs: Costs) -> tuple[str, float, float]:
    """(kind, energy J, missed requests) of moving from ``a`` to ``b`` at ``w``'s start."""
    if a is None or a == b:
        return "", 0.0, 0.0
    if (a.tp, a.max_batch) == (b.tp, b.max_batch):
        return "clock", 0.0, 0.0  # ms under a running server: nothing to price at 5-min windows
    t = min(costs.restart_s, w.duration_s)
    return "restart", costs.n_gpus * costs.idle_power_w * t, w.rate_rps * t


class Planner:
    def __init__(self, by_config: dict[Config, dict[str, CellModel]], costs: Costs):
        if not by_config:
            raise ConfigError("no configuration meets the SLO at the upper end of its 95 % "
                              "interval in any cell: loosen the SLO or measure more clocks/TPs")
        self.by_config = {c: m for c, m in by_config.items() if instances(c, costs) >= 1}
        if not self.by_config:
            raise ConfigError(f"every configuration needs more than the node's {costs.n_gpus} GPUs")
        self.costs = costs

    def options(self, window: Window) -> list[Estimate]:
        out = []
        for cfg, cells in self.by_config.items():
            est = estimate(cfg, cells, window, self.costs)
            if est is not None:
                out.append(est)
        return out

    def check_cells(self, windows: list[Window]) -> None:
        """ConfigError naming the cells the load needs that no configuration has."""
        needed = sorted({w for win in windows for w in win.rates_rps})
        have = {w for cells in self.by_config.values() for w in cells}
        lacking = [w for w in needed if w not in have]
        if lacking:
            raise ConfigError(f"the table has no SLO-holding cell of workload(s) "
                              f"{', '.join(lacking)}, which the load needs (measure them, or "
                              "loosen the SLO)")
        if not any(all(w in cells for w in needed) for cells in self.by_config.values()):
            gaps = {c.label: [w for w in needed if w not in cells]
                    for c, cells in sorted(self.by_config.items())}
            worst = "; ".join(f"{c} lacks {', '.join(ws)}" for c, ws in list(gaps.items())[:4])
            raise ConfigError(f"no configuration has SLO-holding cells of every workload the load "
                              f"needs ({', '.join(needed)}): {worst}")

    @staticmethod
    def best(options: list[Estimate]) -> Estimate:
        feasible = [o for o in options if o.feasible]
        if feasible:
            return min(feasible, key=lambda o: (o.energy_j, o.config))
        return min(options, key=lambda o: (o.utilisation, o.energy_j))  # most capacity

    def oracle(self, windows: list[Window]) -> Strategy:
        return Strategy("per-window oracle (least energy per window, no reconfiguration cost)",
                        [Step(w, self.best(self.options(w))) for w in windows])

    def static(self, windows: list[Window], cfg: Config, name: str) -> Strategy:
        steps = []
        for w in windows:
            est = estimate(cfg, self.by_config[cfg], w, self.costs)
            if est is None:
                raise ConfigError(f"{cfg.label} lacks a cell the load needs")
            steps.append(Step(w, est))
        return Strategy(name, steps)

    def max_performance(self) -> Config:
        tp = max(c.tp for c in self.by_config)
        batch = max(c.max_batch for c in self.by_config if c.tp == tp)
        clock = max(c.clock_mhz for c in self.by_config if c.tp == tp and c.max_batch == batch)
        return Config(tp, batch, clock)

    def best_static(self, windows: list[Window]) -> Strategy:
        best: tuple[tuple[int, float], Config] | None = None
        for cfg in self.by_config:
            ests = [estimate(cfg, self.by_config[cfg], w, self.costs) for w in windows]
            if any(e is None for e in ests):
                continue
            key = (sum(not e.feasible for e in ests), sum(e.energy_j for e in ests))
            if best is None or key < best[0]:
                best = (key, cfg)
        if best is None:
            raise ConfigError("no single configuration has cells for every workload of the load")
        return self.static(windows, best[1], f"best static ({best[1].label})")

    def schedule(self, windows: list[Window], fixed: tuple[int, int] | None = None) -> Strategy:
        """Minimum energy + ``miss_weight_j`` x missed requests over the windows, with
        reconfiguration costs (dynamic programming over configurations). ``fixed`` =
        (tp, max batch): clock changes only (what a replay on one engine can apply)."""
        configs = [c for c in self.by_config if fixed is None or (c.tp, c.max_batch) == fixed]
        if not configs:
            raise ConfigError(f"no SLO-holding configuration with TP{fixed[0]} b{fixed[1]}"
                              if fixed else "no configuration")
        ests = [{c: estimate(c, self.by_config[c], w, self.costs) for c in configs} for w in windows]

        # Only SLO-holding configurations count; a window that none can serve falls back
        # to all of them (priced at capacity, reported over capacity).
        any_ok = [any(e is not None and e.feasible for e in est.values()) for est in ests]

        def value(e: Estimate, w: Window) -> float:
            if any_ok[w_index[id(w)]] and not e.feasible:
                return math.inf
            if not any_ok[w_index[id(w)]]:
                # Nothing holds the SLO: the highest-capacity configuration, as the
                # oracle and the plan's text say (energy only breaks ties).
                return 1e15 * e.utilisation + e.energy_j
            missed = (1.0 - e.attainment) * w.n_requests
            return e.energy_j + self.costs.miss_weight_j * missed

        w_index = {id(w): i for i, w in enumerate(windows)}

        cost: dict[Config, float] = {}
        back: list[dict[Config, Config | None]] = []
        for i, w in enumerate(windows):
            new_cost: dict[Config, float] = {}
            links: dict[Config, Config | None] = {}
            for c in configs:
                e = ests[i][c]
                if e is None:
                    continue
                if i == 0:
                    new_cost[c], links[c] = value(e, w), None
                    continue
                best_prev, best_val = None, math.inf
                for p, pc in cost.items():
                    _, ej, miss = change_cost(p, c, w, self.costs)
                    v = pc + ej + self.costs.miss_weight_j * miss
                    if v < best_val:
                        best_prev, best_val = p, v
                if best_prev is not None:
                    new_cost[c], links[c] = best_val + value(e, w), best_prev
            if not new_cost:
                raise ConfigError(f"window {i}: no configuration has cells for its workloads")
            cost = new_cost
            back.append(links)
        last = min(cost, key=lambda c: (cost[c], c))
        path = [last]
        for links in reversed(back[1:]):
            path.append(links[path[-1]])  # type: ignore[arg-type]
        path.reverse()
        steps, prev = [], None
        for w, c, e in zip(windows, path, ests, strict=True):
            kind, ej, miss = change_cost(prev, c, w, self.costs)
            steps.append(Step(w, e[c], kind, ej, miss))  # type: ignore[arg-type]
            prev = c
        name = "planner schedule" + (f" (clock only, TP{fixed[0]} b{fixed[1]})" if fixed else "")
        return Strategy(name, steps)


def saving(plan: Strategy, base: Strategy) -> tuple[float, float, float]:
    """(saving, low, high) as fractions of ``base``'s energy; the interval pairs each
    side's CI ends the conservative way (plan high vs base low, and back)."""
    s = 1.0 - plan.energy_j / base.energy_j
    lo = 1.0 - plan.energy_hi_j / base.energy_lo_j
    hi = 1.0 - plan.energy_lo_j / base.energy_hi_j
    return s, lo, hi
