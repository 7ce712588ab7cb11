"""A trace workload (``workload=trace``): replay a request trace on one engine instance,
under a clock policy, and store it as cells of the usual schema.

Each *treatment* is one cell ``cells/<label>/<trace name>/``: ``f<MHz>`` for a fixed
clock (one per ``clocks.mhz``), ``schedule`` or ``feedback`` for a clock that moves
while the replay runs (``workload.trace.policy``). A cell holds one load point named
``trace`` per repeat (its energy over the whole replay: first send to last token), the
trace block (window, scales, requests, how many were clipped to the context) and the
policy's clock log; its requests parquet has the usual columns plus the per-request
trace fields (docs/results-format.md). The trace, the policy and its schedule are read
and checked before the engine starts; the clock moves only inside ``pin_clocks``
(``change_pinned_clock``: each change verified, every GPU restored on every exit path).
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from greenllm import atomic
from greenllm.engine.kinds import engine_kind
from greenllm.errors import ConfigError, EngineError, GreenllmError
from greenllm.gpu import Gpu, pin_clocks
from greenllm.load import Workload, summarize
from greenllm.load.trace import Trace, TraceColumns, TraceSpec, clip_lengths, load_trace
from greenllm.locks import hold_gpus, hold_results_folder
from greenllm.measure import measured_settings
from greenllm.measure.baseline import load_baseline, measure_baseline
from greenllm.measure.cell import point_record
from greenllm.measure.cell_store import (
    Cell,
    instance_id,
    note,
    read_summary,
    repeats_done,
    stale_cells,
    write_manifest,
)
from greenllm.measure.compose import config_hash, to_plain
from greenllm.measure.config import MeasureCfg
from greenllm.measure.knob_checks import check_clocks_supported, clock_mode
from greenllm.measure.model_dir import prepare_model_dir
from greenllm.measure.points import PointResult, PointSettings, attach_energy
from greenllm.measure.provenance import now_iso, provenance
from greenllm.measure.run import _terminate, achieved_clock, new_summary, warm_up
from greenllm.measure.settings import to_settings
from greenllm.measure.trace_replay import replay, replay_window, trace_workload
from greenllm.measure.validate import validate_static
from greenllm.ownership import claim_results_folder
from greenllm.recommend.policies import (
    POLICY_KINDS,
    FixedClock,
    ScheduleClock,
    SloFeedback,
    read_schedule,
)
from greenllm.search import Slo

TRACE_CLIPPED_FLAG = "trace_clipped"


def trace_enabled(cfg: DictConfig) -> bool:
    trace = cfg.workload.get("trace")
    return bool(trace is not None and trace.get("path"))


def context_tokens(cfg: DictConfig) -> int:
    """The context a request may use: the engine's ``max_model_len`` or the model's."""
    ctx = int(cfg.engine.max_model_len or cfg.model.shape.max_position_embeddings)
    if ctx > int(cfg.model.shape.max_position_embeddings):
        raise ConfigError(f"engine.max_model_len={ctx} exceeds model {cfg.model.name}'s "
                          f"max_position_embeddings={cfg.model.shape.max_position_embeddings}")
    return ctx


def trace_spec(cfg: DictConfig, max_context: int) -> TraceSpec:
    t = cfg.workload.trace
    c = t.columns
    return TraceSpec(
        path=str(t.path), columns=TraceColumns(str(c.timestamp), str(c.input_tokens),
                                               str(c.output_tokens), str(c.timestamp_unit)),
        start_s=float(t.start_s), duration_s=None if t.duration_s is None else float(t.duration_s),
        time_scale=float(t.time_scale), rate_scale=float(t.rate_scale), seed=int(t.seed),
        max_context_tokens=max_context, name=t.name)


def treatments(cfg: DictConfig, mode: str) -> list[tuple[str, int | None]]:
    """(cell label, first clock) of each treatment the policy asks for."""
    kind = str(cfg.workload.trace.policy.kind)
    if mode == "observe":
        return [("native", None)]
    if kind == "fixed":
        return [(f"f{int(m)}", int(m)) for m in cfg.clocks.mhz]
    return [(kind, None)]


def check_policy(cfg: DictConfig) -> None:
    p = cfg.workload.trace.policy
    if p.kind not in POLICY_KINDS:
        raise ConfigError(f"workload.trace.policy.kind={p.kind!r}: use one of {', '.join(POLICY_KINDS)}")
    if p.kind != "fixed" and cfg.clocks.mode != "pin":
        raise ConfigError(f"policy {p.kind!r} changes the clock: it needs clocks.mode=pin")
    if p.kind == "schedule" and not p.schedule_path:
        raise ConfigError("policy 'schedule' needs workload.trace.policy.schedule_path "
                          "(a greenllm recommend schedule CSV)")
    if not p.period_s > 0:
        raise ConfigError(f"workload.trace.policy.period_s must be > 0, got {p.period_s}")


def make_policy(cfg: DictConfig, label: str, first_mhz: int | None, trace: Trace,
                slo: Slo, schedule: tuple[list[float], list[int]] | None) -> Any:
    p = cfg.workload.trace.policy
    if label == "schedule":
        assert schedule is not None
        return ScheduleClock(schedule[0], schedule[1], float(trace.trace_time_s[0]),
                             float(cfg.workload.trace.time_scale))
    if label == "feedback":
        clocks = sorted(int(m) for m in cfg.clocks.mhz)
        lo = int(p.min_mhz) if p.min_mhz is not None else clocks[0]
        hi = int(p.max_mhz) if p.max_mhz is not None else clocks[-1]
        steps = list(range(lo, hi + 1, int(p.step_mhz)))
        if steps[-1] != hi:
            steps.append(hi)
        return SloFeedback(steps, slo.ttft_s, slo.tbt_s, headroom=float(p.headroom),
                           percentile=float(slo.percentile),
                           window_requests=int(p.window_requests))
    return FixedClock(first_mhz or 0)


def run_trace(raw: DictConfig, overrides: Sequence[str]) -> int:
    """``greenllm measure workload=trace``: every treatment's cell; 0 when all are done."""
    cfg = to_settings(raw)  # typed once, below the app layer (measure.settings)
    validate_static(cfg)
    if cfg.engine.kind == "virtual":  # the replay drives a live server's clock while it runs
        raise ConfigError("workload=trace replays on engine=vllm or engine=sim; "
                          "engine=virtual does not replay traces yet")
    if int(cfg.load.engine_starts) != 1:  # one server replays the whole trace
        raise ConfigError(f"load.engine_starts={cfg.load.engine_starts}: a trace replay runs "
                          "in one engine start (the option spreads load points' repeats)")
    check_policy(cfg)
    ctx = context_tokens(cfg)
    trace = load_trace(trace_spec(cfg, ctx))  # bad input: one line, before any engine
    schedule = (read_schedule(cfg.workload.trace.policy.schedule_path)
                if cfg.workload.trace.policy.kind == "schedule" else None)
    workload = trace_workload(trace)
    if trace.n_clipped:
        note(f"trace {trace.name}: {trace.n_clipped}/{trace.n} requests clipped to the "
             f"{ctx}-token context")
    out = claim_results_folder(cfg.out_dir)  # never into a folder of the user's
    iid = instance_id(cfg)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with ExitStack() as stack:
            # One run per output folder and per GPU, as for every measure run (locks.py).
            stack.enter_context(hold_results_folder(out))
            model_dir = prepare_model_dir(cfg)
            gpu = stack.enter_context(engine_kind(cfg.engine.kind).open_gpus(cfg, out))
            stack.enter_context(hold_gpus([gpu.info(i).uuid for i in gpu.indices], gpu.indices))
            return _run_instance(raw, cfg, overrides, gpu, out, iid, model_dir, ctx, trace,
                                 schedule, workload)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_instance(raw: DictConfig, cfg: MeasureCfg, overrides: Sequence[str], gpu: Gpu,
                  out: Path, iid: str,
                  model_dir: Any, ctx: int, trace: Trace,
                  schedule: tuple[list[float], list[int]] | None, workload: Workload) -> int:
    mode = clock_mode(cfg, gpu)
    check_clocks_supported(cfg, gpu, mode)
    if schedule is not None:
        bad = [m for m in schedule[1] if m not in set(int(c) for c in cfg.clocks.mhz)]
        if bad:
            raise ConfigError(f"the clock schedule uses {sorted(set(bad))} MHz, not in "
                              f"clocks.mhz={list(cfg.clocks.mhz)}")
    repeats = int(cfg.load.repeats)
    cells = [Cell(label, mhz, workload) for label, mhz in treatments(cfg, mode)]
    # a treatment replayed under other settings is replayed afresh (measured_settings)
    stale = stale_cells(cells, out, to_plain(raw))
    todo = [c for c in cells if c.dir(out) in stale or repeats_done(c, out) < repeats]
    if not todo:
        write_manifest(out, iid, cells, complete=True)
        return 0
    infos = [gpu.info(i) for i in gpu.indices]
    kind = engine_kind(cfg.engine.kind)
    prov = provenance(config=to_plain(raw), config_hash=config_hash(raw),
                      overrides=overrides, gpu_infos=infos, engine_version=kind.version())
    prov["clock_mode"] = mode
    atomic.write_json(out / "instance.json", {"instance_id": iid, **prov})
    note(f"{iid}: starting {cfg.engine.kind} engine for trace {trace.name} "
         f"({trace.n} requests over {trace.replay_duration_s:.0f} s)")
    # A live engine (vllm or sim): the replay drives its GPU clock while requests stream.
    server = kind.start(cfg, gpu, model_dir=model_dir, out=out, max_model_len=ctx)
    try:
        measured_settings.set_aside(stale, out, lambda m: note(f"{iid}: {m}"))
        settings = PointSettings(arrival="constant", cv=1.0,
                                 timeout_s=float(cfg.load.request_timeout_s),
                                 ramp_fraction=0.0, seed=int(cfg.load.seed))
        ok = measure_treatments(cfg, gpu, server, settings, todo, out, iid, mode, prov,
                                trace, schedule)
    finally:
        server.stop(float(cfg.engine.stop_grace_s))
    write_manifest(out, iid, cells, complete=ok)
    return 0 if ok else 3


def slo_workload(trace: Trace, quantile: float) -> Workload:
    """The request whose latency alone defines a trace's SLO: the trace's lengths at
    ``quantile`` (0.5: the median request; 0.9, the default: nine in ten requests are no
    longer, so the SLO is not one a typical request misses even when sent alone)."""
    if not 0 < quantile <= 1:
        raise ConfigError(f"workload.trace.slo_quantile must be in (0, 1], got {quantile}")
    q = int(round(100 * quantile))
    inp = np.array([int(np.quantile(trace.input_tokens, quantile))])
    out = np.array([int(np.quantile(trace.output_tokens, quantile))])
    # Each quantile alone fits the context, together they may not: clip like a request.
    inp, out, _ = clip_lengths(inp, out, trace.spec.max_context_tokens)
    return Workload(f"{trace.name}-p{q}", max(int(inp[0]), 1), max(int(out[0]), 1))


def trace_slo(cfg: DictConfig, gpu: Gpu, server: Any, settings: PointSettings,
              trace: Trace, out: Path, mode: str) -> dict[str, Any]:
    t = cfg.workload.trace
    workload = slo_workload(trace, float(t.slo_quantile))
    if t.slo_ttft_s is not None and t.slo_tbt_s is not None:
        slo = Slo(ttft_s=float(t.slo_ttft_s), tbt_s=float(t.slo_tbt_s),
                  percentile=float(cfg.slo.percentile), scale=1.0,
                  baseline_ttft_s=float(t.slo_ttft_s), baseline_tbt_s=float(t.slo_tbt_s))
        return {"slo": {"ttft_s": slo.ttft_s, "tbt_s": slo.tbt_s, "percentile": slo.percentile,
                        "scale": 1.0, "baseline": None, "absolute": True}, "slo_obj": slo}
    found = load_baseline(cfg, workload, out)
    if found is not None:
        return found
    top = int(cfg.gpu.max_sm_clock_mhz) if mode == "pin" else None
    with pin_clocks(gpu, top, mode=mode, marker_dir=cfg.clocks.marker_dir,
                    settle_timeout_s=float(cfg.clocks.settle_timeout_s)):
        warm_up(cfg, settings, server, workload)
        note(f"SLO baseline for trace {trace.name} ({workload.input_tokens}->"
             f"{workload.output_tokens} tokens, its p{100 * float(t.slo_quantile):g} lengths, "
             "sent alone)")
        return measure_baseline(cfg, settings, server, workload, out, clock_mhz=top)


def measure_treatments(cfg: DictConfig, gpu: Gpu, server: Any, settings: PointSettings,
                       todo: list[Cell], out: Path, iid: str, mode: str,
                       prov: dict[str, Any], trace: Trace,
                       schedule: tuple[list[float], list[int]] | None) -> bool:
    instance = {"id": iid, "model": cfg.model.name, "tp": int(cfg.instance.tp),
                "max_batch": int(cfg.instance.max_batch), "engine": cfg.engine.kind,
                "gpu_indices": list(gpu.indices)}
    try:
        baseline = trace_slo(cfg, gpu, server, settings, trace, out, mode)
        for r in range(int(cfg.load.repeats)):
            for cell in todo:
                if repeats_done(cell, out) > r:
                    continue
                policy = make_policy(cfg, cell.clock_label, cell.mhz, trace,
                                     baseline["slo_obj"], schedule)
                first = policy.initial_mhz() if mode == "pin" else None
                with pin_clocks(gpu, first, mode=mode, marker_dir=cfg.clocks.marker_dir,
                                settle_timeout_s=float(cfg.clocks.settle_timeout_s)) as plan:
                    warm_up(cfg, settings, server, cell.workload)
                    note(f"{iid}: trace {trace.name} under {cell.clock_label} "
                         f"(repeat {r + 1}/{cfg.load.repeats})")
                    replay_pass(cfg, gpu, server, settings, cell, r, out, instance, plan,
                                baseline, prov, trace, policy, mode)
    except EngineError as err:
        note(f"{iid}: engine failed: {err}; finished treatments are kept")
        return False
    return True


def replay_pass(cfg: DictConfig, gpu: Gpu, server: Any, settings: PointSettings, cell: Cell,
                repeat: int, out: Path, instance: dict[str, Any], plan: Any,
                baseline: dict[str, Any], prov: dict[str, Any], trace: Trace, policy: Any,
                mode: str) -> None:
    previous = read_summary(cell, out) if repeat > 0 else None
    summary = previous or new_summary(cfg, gpu, cell, instance, plan, baseline, prov)
    summary["trace"] = trace.summary()
    summary["policy"] = {"kind": policy.name, **({"clock_mhz": cell.mhz} if cell.mhz else {})}
    # The energy counter's read period is chosen from its measured cost (gpu/energy_read.py).
    sampler = server.sampler(gpu)
    frame: pd.DataFrame | None = None
    ok = interrupted = False
    try:
        with sampler:
            frame, clock_log = replay(cfg, gpu, settings, trace, policy, plan, mode, server)
            frame.insert(0, "point", "trace")
            frame.insert(1, "repeat", repeat)
            result = PointResult(tag="trace", rate_rps=float(trace.summary()["mean_rate_rps"] or 0),
                                 frame=frame, metrics=summarize(frame, slo=baseline["slo_obj"]),
                                 window=replay_window(frame))
        # After the sampler stopped (its last sample): the window ends at the last token.
        attach_energy(result, sampler.frame())
        if trace.n_clipped:
            result.flags.append(TRACE_CLIPPED_FLAG)
        record = {**point_record(result, name="trace"), "repeat": repeat,
                  "n_clipped": trace.n_clipped, "clock_log": clock_log}
        summary["load_points"] = [p for p in summary["load_points"] if p.get("repeat", 0) != repeat]
        summary["load_points"].append(record)
        summary["repeats_done"] = repeat + 1
        summary["error"] = None
        ok = True
    except EngineError as err:
        summary["error"] = str(err)
        raise
    except (KeyboardInterrupt, SystemExit):
        interrupted = True
        raise
    except GreenllmError as err:
        summary["error"] = str(err)
        note(f"trace cell {cell.clock_label} failed: {err}")
    finally:
        summary["status"] = ("ok" if repeat + 1 >= int(cfg.load.repeats) else "partial") \
            if ok else "failed"
        if not interrupted:
            telemetry = sampler.frame()
            summary["clock"]["achieved_mhz"] = achieved_clock(telemetry)
            summary["provenance"]["cell_finished_at"] = now_iso()
            cdir = cell.dir(out)
            if frame is not None:
                atomic.write_parquet(cdir / f"requests.r{repeat}.parquet", frame)
            if not telemetry.empty:
                atomic.write_parquet(cdir / f"telemetry.r{repeat}.parquet", telemetry)
            atomic.write_json(cdir / "summary.json", summary)
