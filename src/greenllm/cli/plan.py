"""``greenllm plan``: what the workflow will measure, and what it will cost.

    greenllm plan                       # the preset named in config/config.yaml
    greenllm plan --preset smoke --cells
    greenllm plan --configfile my.yaml --config engine=sim --json

Reads the same config as the Snakefile (preset < config/config.yaml < --configfile <
--config) and prints engine instances (one engine start each), cells, studies and an
upper-bound GPU-hour estimate with its formula.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="print the workflow's engine instances, cells and GPU-hour estimate",
        description="Print what the Snakemake workflow will run for a preset: engine "
        "instances (each started once), their cells (clock x workload), load points, "
        "which figures need which instances, and an upper-bound GPU-hour estimate.",
    )
    p.add_argument("--preset", help="preset name (config/presets/<name>.yaml) or YAML path")
    p.add_argument("--configfile", action="append", type=Path, default=[],
                   help="extra workflow config file(s), over config/config.yaml")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="config value (YAML), over the files, e.g. engine=sim")
    p.add_argument("--root", type=Path, default=None,
                   help="greenllm checkout (default: found from the working directory)")
    p.add_argument("--cells", action="store_true", help="also list every cell")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--expected", action="store_true",
                   help="also the expected GPU-hours under the repeat and search policies "
                        "(each cell's capacity predicted by the simulator; ~1 s per cell)")
    p.add_argument("--noise-cv", type=float, default=None,
                   help="run-to-run noise (CV) assumed for adaptive repeats (default 0.10)")
    p.add_argument("--noise-from", type=Path, default=None, metavar="TABLE",
                   help="with --expected: each load point's repeats from a pilot run's table "
                        "(greenllm aggregate's cells or statistics table: the mean over its "
                        "points of what each one's CVs need; --noise-cv where it has none)")
    p.set_defaults(func=run)


def user_config(root: Path, configfiles: list[Path], entries: list[str],
                preset: str | None) -> dict[str, Any]:
    """What Snakemake's ``config`` would hold, from the same files and overrides."""
    import yaml

    from greenllm.plan import BASE_CONFIG_RELPATH, deep_merge, load_yaml

    base = root / BASE_CONFIG_RELPATH
    cfg: dict[str, Any] = load_yaml(base) if base.is_file() else {}
    for path in configfiles:
        cfg = deep_merge(cfg, load_yaml(path))
    for entry in entries:
        key, sep, text = entry.partition("=")
        if not sep or not key:
            raise ConfigError(f"--config {entry!r}: use KEY=VALUE")
        try:
            value = yaml.safe_load(text) if text else None
        except yaml.YAMLError:
            value = text
        cfg = deep_merge(cfg, {key: value})
    if preset:
        cfg["preset"] = preset
    return cfg


def _summary(plan: Any, estimates: Any) -> dict[str, Any]:
    est_by_id = {e.instance_id: e for e in estimates or []}
    instances = []
    for inst in plan.instances:
        est = est_by_id.get(inst.id)
        instances.append({
            "id": inst.id, "tp": inst.tp, "max_batch": inst.max_batch, "gpus": inst.gpus,
            "clocks": list(inst.clocks), "workloads": list(inst.workloads),
            "loads": list(inst.loads), "studies": list(inst.studies),
            "cells": len(inst.cells),
            "estimate_h": round(est.total_s / 3600, 3) if est else None,
            "estimate_gpu_h": round(est.gpu_hours, 3) if est else None,
        })
    return {
        "preset": plan.config["preset"],
        "model": dict(plan.config["model"]),
        "engine": plan.config["engine"],
        "clocks": dict(plan.config["clocks"]),
        "instances": instances,
        "engine_starts": (sum(e.starts for e in estimates) if estimates
                          else len(plan.instances)),
        "cells": len(plan.cells),
        "studies": {s.name: {"figures": list(s.figures), "instances": list(s.instance_ids),
                             "cells": len(s.cells)} for s in plan.studies},
        "estimate_gpu_h": round(sum(e.gpu_hours for e in estimates), 3) if estimates else None,
        "estimate_serial_h": (round(sum(e.total_s for e in estimates) / 3600, 3)
                              if estimates else None),
    }


def _print_text(plan: Any, summary: dict[str, Any], show_cells: bool) -> None:
    from greenllm.plan import ESTIMATE_FORMULA

    cfg = plan.config
    model = cfg["model"]
    clocks = cfg["clocks"]
    clock_text = (" ".join(str(m) for m in clocks["mhz"]) + f" MHz ({len(clocks['mhz'])})"
                  if clocks["mode"] == "pin" else "native (observe: read, never set)")
    print(f"preset {cfg['preset']}: model {model['name']} ({model['source']}, "
          f"{model['load_format']} weights), engine {cfg['engine']}, gpu {cfg['gpu']} "
          f"x{cfg['gpus_available']}")
    print(f"clocks {clocks['mode']}: {clock_text}; load points {' '.join(cfg['load']['points'])}")
    starts = ("(= engine starts)" if summary["engine_starts"] == len(plan.instances)
              else f"({summary['engine_starts']} engine starts, load.engine_starts)")
    print(f"instances: {len(plan.instances)} {starts}, cells: {summary['cells']}, "
          f"figures: {len(plan.figures)}")
    header = (f"  {'instance':<26}{'TP':>3}{'batch':>6}{'clocks':>7}{'wls':>5}{'cells':>6}"
              f"{'est h':>8}{'GPU-h':>8}  loads / studies")
    print(header)
    for row in summary["instances"]:
        est_h = "n/a" if row["estimate_h"] is None else f"{row['estimate_h']:.2f}"
        gpu_h = "n/a" if row["estimate_gpu_h"] is None else f"{row['estimate_gpu_h']:.1f}"
        print(f"  {row['id']:<26}{row['tp']:>3}{row['max_batch']:>6}{len(row['clocks']):>7}"
              f"{len(row['workloads']):>5}{row['cells']:>6}{est_h:>8}{gpu_h:>8}  "
              f"{','.join(row['loads'])} / {','.join(row['studies'])}")
        if show_cells:
            for cell in plan.instance(row["id"]).cells:
                print(f"      {cell.clock}/{cell.workload}")
    print("studies:")
    for name, s in summary["studies"].items():
        print(f"  {name:<9}{s['figures'][0][:5]}-{s['figures'][-1][:5]}  "
              f"{len(s['instances'])} instance(s), {s['cells']} cells: {', '.join(s['instances'])}")
    if summary["estimate_gpu_h"] is None:
        print(f"estimate: n/a (no built-in shape for {model['name']})")
    else:
        note = (" (engine sim: simulated, no GPU used; this is what real GPUs would need)"
                if cfg["engine"] == "sim" else "")
        print(f"estimate (upper bound): {summary['estimate_gpu_h']:.1f} GPU-hours, "
              f"{summary['estimate_serial_h']:.1f} h with instances run one after another{note}")
        print(f"  formula: {ESTIMATE_FORMULA}")
    exp = summary.get("expected")
    if exp:
        print(f"expected under the policies: {exp['gpu_h']:.1f} GPU-hours "
              f"({exp['gpu_h_in_windows']:.1f} inside measurement windows), "
              f"{exp['engine_starts']} engine starts, repeats {exp['repeats']} "
              f"({'adaptive at ' + exp['noise'] if exp['adaptive'] else 'fixed'}), "
              f"{'warm' if exp['warm_search'] else 'cold'} search; simulator-predicted "
              "capacities (greenllm.plan.spend_estimate)")
        if not exp["adaptive"] and exp["noise_source"]:
            print("  load.repeats is fixed: --noise-from sizes nothing (load={repeats: null} "
                  "for adaptive repeats)")
        for label, row in (exp["by_load"] if exp["adaptive"] else {}).items():
            cvs = ", ".join(f"{m} {cv:.1%}" for m, cv in row["cv"].items())
            print(f"  {label:<8} noise CV {cvs} (median): {row['repeats']:.1f} repeats "
                  "(mean over load points)")


def _expected(plan: Any, root: Path, noise_cv: float | None,
              noise_from: Path | None) -> dict[str, Any]:
    from greenllm.plan.spend_estimate import (
        DEFAULT_NOISE_CV,
        Noise,
        expected_spend,
        noise_from_table,
    )

    cv = DEFAULT_NOISE_CV if noise_cv is None else noise_cv
    if not cv > 0:
        raise ConfigError(f"--noise-cv must be > 0, got {cv}")
    noise = noise_from_table(noise_from, cv) if noise_from else Noise(cv)
    # progress on stderr, where it does not mix into the plan a user may redirect
    exp = expected_spend(plan, root, noise_cv=noise,
                         progress=lambda line: print(f"greenllm plan: {line}", file=sys.stderr,
                                                     flush=True))
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in exp.items()
            if k != "instances"}


def _check(plan: Any, root: Path) -> None:
    """The workflow's validation pass (``snakemake -n``: every instance's measure config
    as its job composes it), so a plan of a campaign that would not start says why."""
    from greenllm.measure.preflight import plan_problems

    found = plan_problems(plan, root)
    if found:
        more = f" (and {len(found) - 1} more; snakemake -n lists them all)" if len(found) > 1 else ""
        raise ConfigError(found[0] + more)


def run(args: argparse.Namespace) -> int:
    from greenllm.plan import build_plan, effective_config, estimate, find_root

    if args.noise_from and not args.expected:
        raise ConfigError("--noise-from sizes the expected spend: add --expected")
    root = args.root.resolve() if args.root else find_root()
    cfg = effective_config(user_config(root, args.configfile, args.config, args.preset), root)
    plan = build_plan(cfg)
    _check(plan, root)
    estimates = estimate(plan, root)
    summary = _summary(plan, estimates)
    if args.expected:
        summary["expected"] = _expected(plan, root, args.noise_cv, args.noise_from)
    if args.json:
        if args.cells:
            summary["cell_list"] = [
                {"instance": c.instance_id, "clock": c.clock, "workload": c.workload}
                for c in plan.cells
            ]
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        _print_text(plan, summary, args.cells)
    return 0
