"""``greenllm measure [hydra overrides]``: measure one engine instance and its cells."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "measure",
        help="measure one engine instance (model, TP, max batch) over its clock x workload cells",
        description="Run one measurement instance. Arguments are Hydra overrides of "
        "config/measure/measure.yaml, e.g.: greenllm measure out_dir=results/raw/x "
        "model=llama-1b engine=sim instance.tp=1 'clocks.mhz=[1000,1980]' workload=smoke",
    )
    p.add_argument("overrides", nargs="*", help="Hydra overrides key=value")
    p.add_argument("--cfg", action="store_true", help="print the resolved config and exit")
    p.add_argument("--check", action="store_true",
                   help="run the validation pass only (config, model folder, output folder, "
                   "GPUs, engine): every problem on its own line, exit 0 if none")
    p.set_defaults(func=_run, accepts_extra=True)


def _run(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from greenllm.measure.compose import compose
    from greenllm.measure.run import run

    overrides = [*args.overrides, *args.extra]
    cfg = compose(overrides)
    if args.cfg:
        print(OmegaConf.to_yaml(cfg))
        return 0
    if args.check:
        from greenllm.measure.preflight import require

        require(cfg, locks=True)
        print(f"greenllm: check passed: {cfg.model.name} tp{cfg.instance.tp} "
              f"b{cfg.instance.max_batch} on {cfg.engine.kind} -> {cfg.out_dir}", file=sys.stderr)
        return 0
    return run(cfg, overrides)
