"""One measurement run: one engine instance, started once, and all of its cells.

Order: validate everything that can be checked without the engine (config, workloads,
TP vs heads, model folder, clocks vs the GPU's supported list, port); start the engine;
measure each workload's SLO baseline (requests alone, at the max clock); then for each
clock: pin (or observe), warm up, and measure every workload's cell. Each cell is
written atomically as soon as it is done; a rerun skips cells already measured, a
failing cell is recorded as failed and the run goes on, and an engine crash ends the
run with every finished cell intact. Clocks are restored and the engine stopped on
success, error, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from greenllm import atomic
from greenllm.engine.base import Engine
from greenllm.engine.kinds import engine_kind
from greenllm.errors import EngineError, GreenllmError
from greenllm.gpu import Gpu, pin_clocks
from greenllm.gpu.energy_read import describe as describe_energy_reads
from greenllm.gpu.profiles import profile_warning
from greenllm.host_energy import HostEnergySampler, annotate_host_energy
from greenllm.load import Workload, workload_from
from greenllm.locks import hold_gpus, hold_results_folder
from greenllm.measure import adaptive, knob_checks, measured_settings
from greenllm.measure.baseline import load_baseline, measure_baseline
from greenllm.measure.cell import run_load_points, search_max_throughput
from greenllm.measure.cell_store import (
    Cell,
    drop_unfinished_repeat,
    instance_id,
    needs_measuring,
    note,
    plan_cells,
    read_summary,
    stale_cells,
    summary_repeats_done,
    warn_not_ok,
    write_manifest,
)
from greenllm.measure.compose import config_hash, to_plain
from greenllm.measure.config import MeasureCfg
from greenllm.measure.engine_starts import EngineStarts, next_label, start_of
from greenllm.measure.idle_power import idle_power
from greenllm.measure.model_dir import prepare_model_dir
from greenllm.measure.outcome import pass_status
from greenllm.measure.points import PointSettings, run_point
from greenllm.measure.preflight import require as require_preflight
from greenllm.measure.provenance import now_iso, provenance
from greenllm.measure.settings import to_settings
from greenllm.measure.spend import SpendLedger, finish_spend
from greenllm.measure.validate import max_model_len
from greenllm.measure.warm_prior import cell_prior
from greenllm.ownership import claim_results_folder

SCHEMA = "greenllm.cell/1"
EXIT_ENGINE_FAILED = 3


def _terminate(signum: int, frame: Any) -> None:
    # Turn SIGTERM (Slurm, Snakemake, kill) into an exception so every `finally`
    # (clock restore, engine stop) runs, like it does for Ctrl-C.
    raise SystemExit(128 + signum)


def run(raw: DictConfig, overrides: Sequence[str]) -> int:
    """The app layer: the Hydra config is recorded as given, then typed once."""
    from greenllm.measure.trace_run import run_trace, trace_enabled  # imports this module

    if trace_enabled(raw):  # workload=trace: replay a trace (docs/load.md)
        return run_trace(raw, overrides)
    plain, chash = to_plain(raw), config_hash(raw)
    cfg = to_settings(raw)
    # Every problem at once, before a file is written, a GPU opened or an engine started.
    require_preflight(raw)
    policy = adaptive.policy_from_cfg(cfg.load)  # bad targets/cap: one line, no GPU time
    workloads = [workload_from(w) for w in cfg.workload.ids]
    ctx_len = max_model_len(cfg, workloads)
    out = claim_results_folder(cfg.out_dir)  # never into a folder of the user's
    iid = instance_id(cfg)
    kind = engine_kind(cfg.engine.kind)
    previous = signal.signal(signal.SIGTERM, _terminate)
    ledger = SpendLedger(gpus=int(cfg.instance.tp))  # what this run spends (spend.json)
    t_held = time.monotonic()
    try:
        with ExitStack() as stack:
            # The run's last line names the cells that are not ok: registered first, so it
            # runs after every other exit step (the spend note included).
            planned: list[Cell] = []
            stack.callback(lambda: warn_not_ok(planned, out))
            # One run per output folder and per GPU (locks.py; the kernel frees them on exit).
            stack.enter_context(hold_results_folder(out))
            model_dir = prepare_model_dir(cfg)
            gpu = stack.enter_context(kind.open_gpus(cfg, out))
            stack.enter_context(hold_gpus([gpu.info(i).uuid for i in gpu.indices], gpu.indices))
            stack.callback(finish_spend, out, ledger, t_held, note, [
                c.dir(out) / "summary.json" for m in ("pin", "observe")
                for c in plan_cells(cfg, workloads, m)], virtual_time=kind.name == "virtual")
            mode = knob_checks.clock_mode(cfg, gpu)
            knob_checks.check_clocks_supported(cfg, gpu, mode)
            cells = plan_cells(cfg, workloads, mode)
            planned[:] = cells
            # a cell measured under other settings is measured afresh, not resumed
            stale = stale_cells(cells, out, plain)
            todo = [c for c in cells if c.dir(out) in stale
                    or needs_measuring(c, out, bool(cfg.retry_failed), policy)]
            note(f"{iid}: {len(cells) - len(todo)}/{len(cells)} cells already measured, "
                 f"{len(todo)} to go")
            if not todo:
                write_manifest(out, iid, cells, complete=True)
                return 0
            infos = [gpu.info(i) for i in gpu.indices]
            prov = provenance(config=plain, config_hash=chash,
                              overrides=overrides, gpu_infos=infos,
                              engine_version=kind.version())
            prov["clock_mode"] = mode
            if mode != cfg.clocks.mode:
                prov["warnings"] = ["clock pinning not permitted: measured in observe mode"]
            if warning := profile_warning(str(cfg.gpu.name), [i.name for i in infos]):
                note(warning)  # e.g. an H200 measured as gpu=h100-sxm (docs/measure.md)
                prov.setdefault("warnings", []).append(warning)
            atomic.write_json(out / "instance.json", {"instance_id": iid, **prov})
            def started(seconds: float, engine: Engine) -> None:
                ledger.engine_started(seconds)
                note(f"{iid}: engine ready in {seconds:.0f} s at {engine.base_url}")

            starts = EngineStarts(
                lambda: kind.start(cfg, gpu, model_dir=model_dir, out=out, max_model_len=ctx_len),
                float(cfg.engine.stop_grace_s), started)
            stack.callback(starts.stop)  # whichever start is running
            engine = starts.start()
            measured_settings.set_aside(stale, out, lambda m: note(f"{iid}: {m}"))
            settings = PointSettings(
                arrival=cfg.load.arrival, cv=float(cfg.load.cv),
                timeout_s=float(cfg.load.request_timeout_s),
                ramp_fraction=float(cfg.load.ramp_fraction), seed=int(cfg.load.seed),
                exact_rate=bool(cfg.load.exact_rate))
            ok = measure_cells(cfg, gpu, engine, settings, todo, out, iid, mode, prov, ledger,
                               restart=starts.restart)
            write_manifest(out, iid, cells, complete=ok)
            return 0 if ok else EXIT_ENGINE_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


def measure_cells(cfg: MeasureCfg, gpu: Gpu, engine: Engine, settings: PointSettings,
                  todo: list[Cell], out: Path, iid: str, mode: str,
                  prov: dict[str, Any], ledger: SpendLedger | None = None,
                  restart: Callable[[], Engine] | None = None) -> bool:
    """Measure ``todo``; False when the engine died (finished cells stay on disk).

    Repeats are interleaved: repeat r of every cell of every clock comes before repeat
    r+1 of any, so slow drift (thermals, background load) spreads over all settings
    instead of lining up with one of them. With ``load.engine_starts`` > 1 the engine is
    started again (``restart``) where a block of repeat rounds ends (``engine_starts``).
    """
    marker_dir = cfg.clocks.marker_dir
    settle = float(cfg.clocks.settle_timeout_s)
    baseline_mhz = int(cfg.gpu.max_sm_clock_mhz) if mode == "pin" else None
    repeats = adaptive.policy_from_cfg(cfg.load).cap
    instance = {"id": iid, "model": cfg.model.name, "tp": int(cfg.instance.tp),
                "max_batch": int(cfg.instance.max_batch), "engine": cfg.engine.kind,
                "gpu_indices": list(gpu.indices)}
    # Finished repeats are never redone; a search that found nothing is searched again.
    summaries = {c: read_summary(c, out) for c in todo}
    start = {c: (0 if (s or {}).get("status") == "no_max_throughput"
                 else summary_repeats_done(s)) for c, s in summaries.items()}
    passes = [(r, c) for r in range(repeats) for c in todo if r >= start[c]]
    done, t_first = 0, time.monotonic()
    stopped: set[Cell] = set()  # adaptive repeats: cells whose targets are met
    try:
        needed = sorted({c.workload for c in todo}, key=lambda w: w.id)
        baselines = {w.id: b for w in needed if (b := load_baseline(cfg, w, out)) is not None}
        missing = [w for w in needed if w.id not in baselines]
        if missing:
            # SLO baselines: requests alone at the max clock (paper §III), one pin for all.
            with pin_clocks(gpu, baseline_mhz, mode=mode, marker_dir=marker_dir,
                            settle_timeout_s=settle):
                warm_up(cfg, settings, engine, missing[0])
                for w in missing:
                    note(f"{iid}: SLO baseline for {w.id} (requests alone)")
                    baselines[w.id] = measure_baseline(cfg, settings, engine, w, out,
                                                       clock_mhz=baseline_mhz)
        n_starts, current = int(cfg.load.engine_starts), None
        # the number recorded with each load point: this engine's, counted after the
        # starts the cells already record (a resumed run's engine is a start of its own)
        label = next_label(summaries.values())
        for r in range(repeats):
            if not any(rr == r and c not in stopped for rr, c in passes):
                continue
            block = start_of(r, repeats, n_starts)
            if current is not None and block != current and restart:
                note(f"{iid}: engine start {block + 1}/{n_starts} (load.engine_starts) "
                     f"before repeat {r + 1}")
                engine = restart()
                label += 1
            current = block
            for clock_label in dict.fromkeys(c.clock_label for rr, c in passes if rr == r):
                group = [c for rr, c in passes
                         if rr == r and c.clock_label == clock_label and c not in stopped]
                if not group:
                    continue
                with pin_clocks(gpu, group[0].mhz, mode=mode, marker_dir=marker_dir,
                                settle_timeout_s=settle, power_limit_w=group[0].power_limit_w,
                                memory_clock_mhz=group[0].memory_mhz) as plan:
                    plan.idle = idle_power(engine, gpu, out, clock_label,
                                           float(cfg.attribution.idle_window_s))
                    warm_up(cfg, settings, engine, group[0].workload)
                    for cell in group:
                        eta = ""
                        if done:
                            per = (time.monotonic() - t_first) / done
                            eta = f", ETA {per * (len(passes) - done) / 60:.1f} min"
                        rep = f" repeat {r + 1}/{repeats}" if repeats > 1 else ""
                        note(f"{iid}: pass {done + 1}/{len(passes)} {cell.clock_label} "
                             f"{cell.workload.id}{rep}{eta}")
                        if measure_pass(cfg, gpu, engine, settings, cell, r, out, instance,
                                        plan, baselines[cell.workload.id], prov, ledger,
                                        engine_start=label if n_starts > 1 else None):
                            stopped.add(cell)
                        done += 1
    except EngineError as err:
        note(f"{iid}: engine failed: {err}; {done} pass(es) finished this run are kept")
        return False
    return True


def warm_up(cfg: MeasureCfg, settings: PointSettings, engine: Engine, w: Workload) -> None:
    n = int(cfg.load.warmup_requests)
    if n > 0:
        run_point(settings, engine, w, rate_rps=max(1.0, n / 2.0), n=n, tag="warmup", slo=None,
                  sampler=None, seed_offset=999_999)


def new_summary(cfg: MeasureCfg, gpu: Gpu, cell: Cell, instance: dict[str, Any], plan: Any,
                baseline: dict[str, Any], prov: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "status": "failed",
        "error": None,
        "simulated": bool(gpu.simulated),
        "instance": instance,
        "clock": {"label": cell.clock_label, "mode": plan.mode, "requested_mhz": cell.mhz,
                  "applied_mhz": plan.applied_mhz, "snapped": plan.snapped,
                  "verified": plan.verified, "notes": list(plan.notes),
                  **knob_checks.knob_record(cell.setting, plan)},
        "workload": {"id": cell.workload.id, "input_tokens": cell.workload.input_tokens,
                     "output_tokens": cell.workload.output_tokens},
        "slo": baseline["slo"],
        "repeats": adaptive.policy_from_cfg(cfg.load).cap,
        "repeats_done": 0,
        "max_throughput": None,
        "load_points": [],
        "provenance": {k: v for k, v in prov.items() if k != "config"},
        "measured_settings": measured_settings.record(prov["config"]),
    }
    summary["provenance"]["cell_started_at"] = now_iso()
    return summary


def measure_pass(cfg: MeasureCfg, gpu: Gpu, engine: Engine, settings: PointSettings, cell: Cell,
                 repeat: int, out: Path, instance: dict[str, Any], plan: Any,
                 baseline: dict[str, Any], prov: dict[str, Any],
                 ledger: SpendLedger | None = None, engine_start: int | None = None) -> bool:
    """One repeat of a cell; the first also searches the max throughput under SLO.
    True when the cell needs no further repeat (``measure.adaptive``). ``engine_start``
    (``load.engine_starts`` > 1) is recorded in each load point of the repeat.

    Later repeats run the load points at the rates the first derived, so every repeat
    measures the same offered load; the summary is rewritten after each repeat (status
    ``partial`` until the last), so an interrupted run resumes at the next repeat.
    """
    cdir = cell.dir(out)
    policy = adaptive.policy_from_cfg(cfg.load)
    drop_unfinished_repeat(cdir, repeat)
    previous = read_summary(cell, out) if repeat > 0 else None
    summary = previous or new_summary(cfg, gpu, cell, instance, plan, baseline, prov)
    label = f"{cell.clock_label} {cell.workload.id}"
    frames: list[pd.DataFrame] = []
    sampler = engine.sampler(gpu)
    # host CPU/DRAM energy (RAPL) on the live engines' clock; none in virtual time
    host = HostEnergySampler(enabled=bool(cfg.attribution.host_energy) and engine.kind != "virtual")
    ok = interrupted = stop = False
    try:
        with sampler, host:
            if getattr(sampler, "energy_plan", None) is not None:
                note(f"{label}: {describe_energy_reads(sampler.energy_plan)}")
            # Only named points (fractions of the max) need the search; a run of
            # absolute rates alone (load.points=[], load.rates_rps=[...]) skips it.
            if repeat == 0 and list(cfg.load.points):
                prior = (cell_prior(out, cell.clock_label, cell.mhz, cell.workload,
                                    cfg.model.name, int(cfg.instance.tp),
                                    int(cfg.instance.max_batch), baseline["slo_obj"])
                         if cfg.search.warm_start and not cfg.search.start_rps else None)
                summary["max_throughput"], frames = search_max_throughput(
                    cfg, settings, engine, cell.workload, baseline["slo_obj"], baseline, label,
                    prior=prior)
            if cfg.search.every_repeat and list(cfg.load.points):
                record_repeated_search(cfg, settings, engine, cell, baseline, label, repeat,
                                       summary, frames)
            max_rps = (summary.get("max_throughput") or {}).get("rps")
            # load.stop_per=point: points whose targets are met (or capped) sit out
            skip = adaptive.skipped_points(policy, previous)
            points, point_frames = run_load_points(cfg, settings, engine, cell.workload,
                                                   baseline["slo_obj"], max_rps, sampler,
                                                   label, repeat, skip=skip)
        frames += point_frames
        annotate_host_energy(points, host)
        if engine_start is not None:
            for p in points:
                p["engine_start"] = engine_start
        summary["load_points"] = [p for p in summary["load_points"] if p.get("repeat", 0) != repeat]
        summary["load_points"] += points
        summary["repeats_done"] = repeat + 1
        summary["error"] = None
        ok = True
    except (EngineError, KeyboardInterrupt, SystemExit):
        # The engine died, Ctrl-C, SIGTERM or a job time limit: not the cell's fault.
        # Earlier repeats stay valid and a rerun resumes here; this pass's partial data
        # (telemetry, requests) is not kept, so nothing of an aborted repeat is left.
        interrupted = True
        raise
    except GreenllmError as err:
        summary["error"] = str(err)
        note(f"cell {label} failed: {err}")
    except Exception as err:  # a bug or an unexpected server answer: keep going
        summary["error"] = f"{type(err).__name__}: {err}".splitlines()[0][:500]
        note(f"cell {label} failed: {summary['error']}")
    finally:
        if ok:
            decision = adaptive.decide_summary(policy, summary)
            adaptive.record(summary, policy, decision)
            stop = decision.stop
            if ledger is not None:
                ledger.add_pass(summary, repeat, searched=repeat == 0)
            summary["status"] = "ok" if stop else "partial"
            summary["status"] = pass_status(summary, summary["status"])  # no max: not ok
        else:
            summary["status"] = "failed"
        # Interrupted: earlier repeats stay as written (status partial) and a cell with
        # none finished stays unmeasured; this pass's half-measured data is dropped.
        if not interrupted:
            telemetry = sampler.frame()
            summary["clock"]["achieved_mhz"] = achieved_clock(telemetry)
            summary["provenance"]["cell_finished_at"] = now_iso()
            if getattr(sampler, "energy_plan", None) is not None:  # measured read cost, chosen period
                summary.setdefault("energy_reads", {})[f"r{repeat}"] = sampler.energy_plan.to_dict()
            if frames:
                atomic.write_parquet(cdir / f"requests.r{repeat}.parquet",
                                     pd.concat(frames, ignore_index=True))
            if not telemetry.empty:
                atomic.write_parquet(cdir / f"telemetry.r{repeat}.parquet", telemetry)
            atomic.write_json(cdir / "summary.json", summary)
    return stop




def record_repeated_search(cfg: MeasureCfg, settings: PointSettings, engine: Engine, cell: Cell,
                           baseline: dict[str, Any], label: str, repeat: int,
                           summary: dict[str, Any], frames: list[pd.DataFrame]) -> None:
    """search.every_repeat: this repeat's search in ``max_throughput.repeats`` (repeat 0's
    is the cell's main search); the load points keep the first search's rates."""
    mt = summary.get("max_throughput")
    if mt is None:
        return
    if repeat == 0:
        search = {k: mt[k] for k in ("rps", "lower_rps", "upper_rps", "converged", "probes")}
    else:
        found, probe_frames = search_max_throughput(
            cfg, settings, engine, cell.workload, baseline["slo_obj"], baseline, label, repeat)
        frames.extend(probe_frames)
        search = {k: found[k] for k in ("rps", "lower_rps", "upper_rps", "converged", "probes")}
    mt["repeats"] = [r for r in mt.get("repeats", []) if r.get("repeat") != repeat]
    mt["repeats"].append({"repeat": repeat, **search})


def achieved_clock(telemetry: pd.DataFrame) -> dict[str, Any]:
    if telemetry.empty:
        return {}
    clk = telemetry["sm_clock_mhz"].astype(float)
    return {"mean": float(clk.mean()), "p5": float(clk.quantile(0.05)),
            "p50": float(clk.quantile(0.5)), "p95": float(clk.quantile(0.95))}
