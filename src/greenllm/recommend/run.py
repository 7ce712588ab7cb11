"""``greenllm recommend``: tables + SLO + load -> table, schedule, figure, markdown.

Outputs, beside ``--out plan.md``: ``<stem>.cells.csv`` (optimum per workload x load),
``<stem>.schedule.csv`` (the planner's schedule), ``<stem>.schedule_clock.csv`` (the
clock-only schedule of ``--replay-instance``, what ``workload.trace.policy=schedule``
replays), ``<stem>.strategies.csv`` (schedule vs baselines), ``<stem>.pareto.png`` and
``<stem>.prediction.json`` (the numbers a replay is compared with).
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from greenllm import atomic
from greenllm.analysis.aggregate import load_table
from greenllm.errors import ConfigError
from greenllm.load.trace import TraceSpec, load_trace
from greenllm.recommend.cells import Slo, build_models, models_by_config
from greenllm.recommend.load import WorkloadShape, mix_window, parse_mix, trace_windows
from greenllm.recommend.planner import Costs, Planner
from greenllm.recommend.report import (
    markdown,
    pareto_figure,
    pareto_frame,
    per_cell_table,
    schedule_frame,
    strategies_frame,
)


@dataclass
class PlanRequest:
    tables: list[str]
    out: str
    slo: Slo
    costs: Costs
    trace: TraceSpec | None = None
    window_s: float = 300.0
    rate_rps: float | None = None
    mix: dict[str, float] | None = None
    replay_instance: tuple[int, int] | None = None
    title: str = "Energy-optimal operating plan"
    replay_json: str | None = None  # measured replay results (policies) to report beside
    replay_prediction: str | None = None  # the prediction.json of the replay's own load


def read_tables(paths: list[str]) -> pd.DataFrame:
    frames = []
    for p in paths:
        if not Path(p).is_file():
            raise ConfigError(f"table {p}: no such file (make it with greenllm aggregate)")
        frames.append(load_table(p))
    return pd.concat(frames, ignore_index=True)


def plan(req: PlanRequest, command: str = "greenllm recommend") -> dict[str, Path]:
    table = read_tables(req.tables)
    simulated = bool(table["simulated"].astype(bool).any()) if "simulated" in table else False
    models, excluded = build_models(table, req.slo)
    planner = Planner(models_by_config(models), req.costs)
    shapes = sorted({WorkloadShape(m.workload_id, m.input_tokens, m.output_tokens) for m in models},
                    key=lambda s: (s.input_tokens, s.output_tokens))
    fit_lines: list[str] = []
    if req.trace is not None:
        trace = load_trace(req.trace)
        windows, fit = trace_windows(trace, shapes, req.window_s)
        fit_lines = fit.lines()
        load_text = (f"trace {trace.name} ({req.trace.path}), trace seconds "
                     f"{req.trace.start_s:g}-{windows[-1].end_s:g} in {len(windows)} windows of "
                     f"{req.window_s:g} s, time x{req.trace.time_scale:g}, rate "
                     f"x{req.trace.rate_scale:g}: {trace.n} requests; priced as "
                     + ", ".join(f"{w} {n}" for w, n in fit.per_workload.items() if n))
    else:
        if req.rate_rps is None or not req.mix:
            raise ConfigError("give a load: --trace CSV, or --rate R with --mix W:F,...")
        windows = [mix_window(req.rate_rps, req.mix, shapes)]
        load_text = f"{req.rate_rps:g} req/s, mix {req.mix}, one hour"
    planner.check_cells(windows)
    if not any(o.feasible for w in windows for o in planner.options(w)):
        raise ConfigError("no configuration meets the SLO for this load in any window (every "
                          "one is over capacity): loosen the SLO, lower the rate, or add GPUs")
    over = [w.index for w in windows if not any(o.feasible for o in planner.options(w))]
    if over:
        fit_lines.append(f"windows {over}: the rate is beyond every configuration's capacity "
                         "under the SLO; planned at the highest-capacity one and reported as "
                         "over capacity (no extrapolation beyond the measured rates)")
    schedule = planner.schedule(windows)
    maxperf = planner.max_performance()
    baselines = [planner.static(windows, maxperf, f"static max performance ({maxperf.label})"),
                 planner.best_static(windows), planner.oracle(windows)]
    clock_only = None
    if req.replay_instance is not None:
        clock_only = planner.schedule(windows, fixed=req.replay_instance)
    out = Path(req.out)
    stem = out.with_suffix("")
    paths = {"md": out, "cells": Path(f"{stem}.cells.csv"),
             "schedule": Path(f"{stem}.schedule.csv"), "strategies": Path(f"{stem}.strategies.csv"),
             "figure": Path(f"{stem}.pareto.png"), "prediction": Path(f"{stem}.prediction.json")}
    per_cell = per_cell_table(planner)
    strategies = strategies_frame(schedule, baselines)
    sched = schedule_frame(schedule)
    clock_frame = schedule_frame(clock_only) if clock_only else None
    for key, frame in (("cells", per_cell), ("schedule", sched), ("strategies", strategies)):
        _write_csv(paths[key], frame)
    if clock_frame is not None:
        paths["schedule_clock"] = Path(f"{stem}.schedule_clock.csv")
        _write_csv(paths["schedule_clock"], clock_frame)
    footnote = ""
    if req.trace is not None:
        footnote = (f"Load {trace.name}: {fit.n_requests} requests, {fit.between_buckets} between "
                    f"buckets (priced at the next larger), {fit.beyond_grid} beyond the grid "
                    f"(priced at the largest: underestimated), {fit.clipped} clipped to the context.")
    pareto_figure(pareto_frame(planner), paths["figure"], simulated, footnote)
    prediction = {
        "simulated": simulated,
        "replay_duration_s": sum(w.duration_s for w in windows), "slo": asdict(req.slo), "costs": asdict(req.costs),
        "strategies": strategies.to_dict("records"),
        "clock_only": None if clock_only is None else {
            "name": clock_only.name, "energy_j": clock_only.energy_j,
            "energy_lo_j": clock_only.energy_lo_j, "energy_hi_j": clock_only.energy_hi_j,
            "attainment": clock_only.attainment,
            "static_by_clock": _static_by_clock(planner, windows, req.replay_instance)},
    }
    replay_md = None
    if req.replay_json:
        from greenllm.recommend.replay_report import replay_markdown

        replay_pred = (json.loads(Path(req.replay_prediction).read_text())
                       if req.replay_prediction else prediction)
        replay_md = replay_markdown(json.loads(Path(req.replay_json).read_text()), replay_pred)
    slo_text = (f"TTFT <= {req.slo.ttft_s * 1e3:g} ms and TBT <= {req.slo.tbt_s * 1e3:g} ms"
                if req.slo.ttft_s is not None and req.slo.tbt_s is not None else
                f"{req.slo.scale:g} x each cell's latency alone" if req.slo.scale else
                "each cell's own SLO from the table (its slo_ttft_s, slo_tbt_s)")
    costs_text = (f"node of {req.costs.n_gpus} GPUs, idle {req.costs.idle_power_w:g} W/GPU, "
                  f"clock change {req.costs.clock_change_s * 1e3:g} ms (priced at 0 J), "
                  f"TP/batch change = engine restart of {req.costs.restart_s:g} s at idle power "
                  f"with that time's arrivals counted as SLO misses (DP weight "
                  f"{req.costs.miss_weight_j:g} J per miss)")
    text = markdown(req.title, simulated=simulated, source=", ".join(req.tables),
                    slo_text=slo_text, load_text=load_text, fit_lines=fit_lines,
                    costs_text=costs_text, per_cell=per_cell, strategies=strategies,
                    schedule=sched, clock_only=clock_frame, excluded=excluded,
                    figure_name=paths["figure"].name, command=command,
                    n_gpus=req.costs.n_gpus, replay_md=replay_md)
    atomic.write_json(paths["prediction"], prediction)
    atomic.write_text(out, text)
    return paths


def _static_by_clock(planner: Planner, windows: list, inst: tuple[int, int] | None) -> dict:
    """Predicted energy of each fixed clock of the replayed instance (fixed-policy replays)."""
    out = {}
    for cfg in planner.by_config:
        if inst is not None and (cfg.tp, cfg.max_batch) == inst:
            try:
                st = planner.static(windows, cfg, cfg.label)
            except ConfigError:
                continue
            out[str(cfg.clock_mhz)] = {"energy_j": st.energy_j, "energy_lo_j": st.energy_lo_j,
                                       "energy_hi_j": st.energy_hi_j, "attainment": st.attainment}
    return out


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    with atomic.atomic_path(path, suffix=".csv") as tmp:
        frame.to_csv(tmp, index=False)


def command_line(argv: list[str]) -> str:
    return "greenllm recommend " + " ".join(shlex.quote(a) for a in argv)


def note(msg: str) -> None:
    print(f"greenllm recommend: {msg}", file=sys.stderr)


__all__ = ["PlanRequest", "command_line", "parse_mix", "plan"]
