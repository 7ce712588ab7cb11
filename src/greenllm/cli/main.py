"""``greenllm`` command line: one subcommand per module in this package.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and sets
``func`` (``args -> int`` exit code). Errors meant for users (``GreenllmError``) print
one line and exit 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from greenllm import __version__
from greenllm.errors import GreenllmError

# Subcommand modules under greenllm.cli, in the order `greenllm --help` lists them.
SUBCOMMANDS = ("doctor", "clocks", "measure", "plan", "download", "aggregate", "figure", "claims",
               "recommend")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="greenllm",
        description="Energy, latency and throughput of LLM inference vs GPU clock, "
        "workload, tensor parallelism and batch size (Towards Greener LLMs).",
    )
    parser.add_argument("--version", action="version", version=f"greenllm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"greenllm.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"greenllm.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return 2
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args) or 0)
    except GreenllmError as err:
        print(f"greenllm: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("greenllm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
