"""``greenllm`` command line: one subcommand per module in this package.

Each subcommand module exposes ``register(subparsers)`` which adds its parser and sets
``func`` (``args -> int`` exit code). ``cli/errors.py`` is the one error boundary: user
errors (``GreenllmError``), OS errors (permissions, read-only, disk full), YAML that does
not parse and signals print one line and exit with a documented code; ``--debug`` or
``GREENLLM_DEBUG=1`` shows the traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from greenllm import __version__
from greenllm.cli.errors import EXIT_SIGNAL_BASE, debug_requested, run_guarded
from greenllm.gpu.pinning import reset_restore_status

# Subcommand modules under greenllm.cli, in the order `greenllm --help` lists them.
SUBCOMMANDS = ("doctor", "clocks", "measure", "plan", "download", "aggregate", "figure", "claims",
               "recommend")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every subcommand, or of ``only`` that one: ``greenllm doctor`` on a
    bare GPU box then needs only what doctor imports (not the analysis stack)."""
    parser = argparse.ArgumentParser(
        prog="greenllm",
        description="Energy, latency and throughput of LLM inference vs GPU clock, "
        "workload, tensor parallelism and batch size (Towards Greener LLMs).",
    )
    parser.add_argument("--version", action="version", version=f"greenllm {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also: GREENLLM_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS if only is None else (only,):
        try:
            module = importlib.import_module(f"greenllm.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"greenllm.cli.{name}":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (Slurm, Snakemake, kill) unwinds like Ctrl-C: every `finally` runs (clock
    # restore, engine stop, lock release) and the boundary names the signal.
    raise SystemExit(EXIT_SIGNAL_BASE + signum)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    argv = [a for a in argv if a != "--debug"]  # anywhere: `greenllm measure --debug ...`
    reset_restore_status()  # the exit message speaks of this invocation's pins only
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if on_main else None
    try:
        return run_guarded(lambda: _dispatch(argv), debug)
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(argv: list[str]) -> int:
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=first if first in SUBCOMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return 2
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
