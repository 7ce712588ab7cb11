"""Independent engine instances side by side on one node, each on its own GPUs.

When a node has more GPUs than an instance needs (4 x TP2 on 8 GPUs), the instances of
a plan can run at the same time: each is its own ``greenllm measure`` process with its
own engine, its own telemetry sampler (reading only its GPUs, so energy is per GPU and
per instance) and its own clock pins (``pin_clocks`` holds a handle on the instance's
GPUs only, so it pins and restores those and no other). What must never happen is two
instances on one GPU: their latency and energy would be each other's.

``waves`` packs instances into rounds that fit the listed GPUs (explicit GPU sets are
checked: a one-line error for an instance asking more GPUs than listed, a GPU outside
the list, or two instances sharing a GPU), and ``run_side_by_side`` starts one round's
processes and waits for all of them, stopping all of them on Ctrl-C or SIGTERM so
each restores its clocks. ``disturbance`` compares cells measured side by side with
the same cells measured alone (does a neighbour change power or latency?), against the
mean of several alone runs where given, and ``start_spread`` is how far those alone runs
(engine starts) differ among themselves: the size a disturbance must exceed.

    python -m greenllm.measure.parallel --gpus 0,1,2,3 --tp 2 --instances 2 \\
        --out results/parallel -- model=llama-1b engine=sim ...
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError


@dataclass(frozen=True)
class InstanceRequest:
    instance_id: str
    gpus_needed: int  # TP
    gpus: tuple[int, ...] | None = None  # explicit GPU set, or None: any free ones


@dataclass(frozen=True)
class Slot:
    instance_id: str
    gpus: tuple[int, ...]


def waves(requests: Sequence[InstanceRequest], node_gpus: Sequence[int]) -> list[list[Slot]]:
    """Rounds of instances that run side by side on disjoint GPU sets (see module)."""
    listed = list(dict.fromkeys(int(g) for g in node_gpus))
    if not listed:
        raise ConfigError("parallel instances: no GPUs listed")
    explicit: dict[int, str] = {}
    for req in requests:
        if req.gpus_needed > len(listed):
            raise ConfigError(f"parallel instances: {req.instance_id} needs {req.gpus_needed} "
                              f"GPUs but only {len(listed)} are listed ({_fmt(listed)})")
        if req.gpus is None:
            continue
        if len(req.gpus) != req.gpus_needed:
            raise ConfigError(f"parallel instances: {req.instance_id} lists {len(req.gpus)} "
                              f"GPUs but needs {req.gpus_needed} (TP)")
        for g in req.gpus:
            if g not in listed:
                raise ConfigError(f"parallel instances: {req.instance_id} asks for GPU {g}, "
                                  f"which is not listed ({_fmt(listed)})")
            if g in explicit:
                raise ConfigError(f"parallel instances: {explicit[g]} and {req.instance_id} "
                                  f"share GPU {g}; each instance needs GPUs of its own")
            explicit[g] = req.instance_id
    total_explicit = sum(r.gpus_needed for r in requests if r.gpus is not None)
    if total_explicit > len(listed):
        raise ConfigError(f"parallel instances ask for {total_explicit} GPUs but "
                          f"{len(listed)} are listed")
    rounds: list[list[Slot]] = []
    pending = list(requests)
    while pending:
        free = [g for g in listed]
        wave: list[Slot] = []
        later: list[InstanceRequest] = []
        # explicit sets first (their GPUs are fixed), then the largest instances
        for req in sorted(pending, key=lambda r: (r.gpus is None, -r.gpus_needed)):
            if req.gpus is not None and all(g in free for g in req.gpus):
                chosen = req.gpus
            elif req.gpus is None and len(free) >= req.gpus_needed:
                chosen = tuple(free[:req.gpus_needed])
            else:
                later.append(req)
                continue
            free = [g for g in free if g not in chosen]
            wave.append(Slot(req.instance_id, tuple(chosen)))
        order = {r.instance_id: i for i, r in enumerate(requests)}
        rounds.append(sorted(wave, key=lambda s: order[s.instance_id]))
        pending = later
    return rounds


def _fmt(gpus: Sequence[int]) -> str:
    return ",".join(str(g) for g in gpus)


def measure_argv(slot: Slot, out_dir: Path, overrides: Sequence[str]) -> list[str]:
    """``greenllm measure`` for one slot: its own output folder and GPU set."""
    return [sys.executable, "-m", "greenllm.cli.main", "measure", f"out_dir={out_dir}",
            *overrides, f"instance.tp={len(slot.gpus)}",
            f"instance.gpus=[{_fmt(slot.gpus)}]"]


def run_side_by_side(slots: Sequence[Slot], argv_of: Mapping[str, Sequence[str]],
                     env: Mapping[str, str] | None = None,
                     log_dir: Path | None = None) -> dict[str, int]:
    """Start every slot's process at once and wait for all; {instance: exit code}.

    Ctrl-C or SIGTERM is passed on to every process (each then restores its own clocks
    and stops its engine) before this returns."""
    procs: dict[str, subprocess.Popen] = {}
    logs = []
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        for slot in slots:
            log = None
            if log_dir is not None:
                log_dir.mkdir(parents=True, exist_ok=True)
                log = open(log_dir / f"{slot.instance_id}.log", "w")  # noqa: SIM115
                logs.append(log)
            procs[slot.instance_id] = subprocess.Popen(
                list(argv_of[slot.instance_id]), env=dict(env or os.environ),
                stdout=log or subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)
        return {iid: p.wait() for iid, p in procs.items()}
    except BaseException:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        for log in logs:
            log.close()


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


# --- do neighbours disturb each other? ----------------------------------------------

DISTURBANCE_METRICS = ("ttft_p50_s", "tbt_p50_s", "power_mean_w", "energy_per_output_token_j",
                       "max_throughput_rps")


def _medians(raw_dir: Path) -> dict[tuple[str, str, str], dict[str, float]]:
    import pandas as pd

    from greenllm.analysis.flatten import rows_to_frame, summary_rows

    rows = []
    for path in sorted(Path(raw_dir).rglob("cells/*/*/summary.json")):
        rows += summary_rows(json.loads(path.read_text()), path)
    if not rows:
        return {}
    table = rows_to_frame(rows)
    cols = [c for c in DISTURBANCE_METRICS if c in table.columns]
    grouped = table.groupby(["clock_label", "workload_id", "load_point"])[cols].median()
    return {key: {c: float(v) for c, v in row.items() if pd.notna(v)}
            for key, row in grouped.iterrows()}


def _over_runs(runs: Sequence[Path]) -> dict[tuple[str, str, str], dict[str, list[float]]]:
    """Per cell and load point, each metric's medians over the runs that have it."""
    medians = [_medians(p) for p in runs]
    out: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for run in medians:
        for key, metrics in run.items():
            for m, v in metrics.items():
                out.setdefault(key, {}).setdefault(m, []).append(v)
    return out


def _reference(alone: Path | Sequence[Path]) -> dict[tuple[str, str, str], dict[str, float]]:
    """Each metric's mean over the alone runs' medians (one run: its medians)."""
    runs = [alone] if isinstance(alone, Path) else alone
    return {key: {m: sum(v) / len(v) for m, v in metrics.items()}
            for key, metrics in _over_runs(runs).items()}


def disturbance(alone: Path | Sequence[Path], side_dir: Path) -> list[dict[str, Any]]:
    """Per cell and load point: (side by side - alone) / alone of each metric.

    ``alone``: one run's folder, or several (separate engine starts), whose medians are
    averaged: a start carries its own latency offset (6-15 % on the lent H100,
    docs/uncertainty.md), which one alone run would pass to every comparison."""
    ref, side = _reference(alone), _medians(side_dir)
    out = []
    for key in sorted(set(ref) & set(side)):
        row: dict[str, Any] = {"clock": key[0], "workload": key[1], "load_point": key[2]}
        for m in DISTURBANCE_METRICS:
            a, s = ref[key].get(m), side[key].get(m)
            row[m] = (s - a) / a if a and s is not None else None
        out.append(row)
    return out


def start_spread(alone: Sequence[Path]) -> list[dict[str, Any]]:
    """Per cell and load point: each metric's SD over the alone runs' medians over their
    mean (None below two runs): the scale a disturbance must clear to be one."""
    out = []
    for key, metrics in sorted(_over_runs(alone).items()):
        row: dict[str, Any] = {"clock": key[0], "workload": key[1], "load_point": key[2]}
        for m in DISTURBANCE_METRICS:
            vals = metrics.get(m, [])
            mean = sum(vals) / len(vals) if vals else 0.0
            row[m] = (statistics.stdev(vals) / abs(mean) if len(vals) >= 2 and mean
                      else None)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run N copies of one instance side by side.")
    ap.add_argument("--gpus", required=True, help="the node's GPUs, e.g. 0,1,2,3,4,5,6,7")
    ap.add_argument("--tp", type=int, required=True)
    ap.add_argument("--instances", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("overrides", nargs="*", help="greenllm measure overrides (after --)")
    args = ap.parse_args(argv)
    try:
        node = [int(g) for g in args.gpus.split(",") if g.strip()]
        reqs = [InstanceRequest(f"i{k}", args.tp) for k in range(args.instances)]
        plan = waves(reqs, node)
    except (ConfigError, ValueError) as err:
        print(f"greenllm: error: {err}", file=sys.stderr)
        return 2
    codes: dict[str, int] = {}
    for wave in plan:
        argv_of = {s.instance_id: measure_argv(s, args.out / s.instance_id, args.overrides)
                   for s in wave}
        codes.update(run_side_by_side(wave, argv_of, log_dir=args.out / "logs"))
    print(json.dumps({"waves": [[(s.instance_id, list(s.gpus)) for s in w] for w in plan],
                      "exit_codes": codes}))
    return 0 if all(c == 0 for c in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
