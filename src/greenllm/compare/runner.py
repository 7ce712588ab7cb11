"""Running an interleaved A/B comparison: ``run_ab`` calls the two sides' runners
A B A B … and hands the numbers to ``greenllm.analysis.compare`` (which only compares);
``command_runner`` turns a shell command printing one JSON line into a runner.

Used by ``benchmarks/compare_ab.py``; ``greenllm.compare.adapters`` has the two runners
it compares (greenllm's client and ``vllm bench serve``).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from greenllm.analysis.compare import (
    DEFAULT_TOLERANCE,
    ComparisonReport,
    Metrics,
    compare_values,
)
from greenllm.errors import ConfigError, GreenllmError

Runner = Callable[[], Mapping[str, Any]]
ORDERS = ("ABAB", "ABBA")


def _numeric(result: Mapping[str, Any], side: str, round_index: int) -> Metrics:
    if not isinstance(result, Mapping):
        raise GreenllmError(f"{side} round {round_index + 1} returned "
                            f"{type(result).__name__}, not a dict of metrics")
    out: Metrics = {}
    for key, value in result.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue  # labels, lists: not metrics
        if math.isfinite(float(value)):
            out[str(key)] = float(value)
    return out


def run_ab(
    run_a: Runner,
    run_b: Runner,
    rounds: int,
    *,
    order: str = "ABAB",
    tolerance: float = DEFAULT_TOLERANCE,
    label_a: str = "A",
    label_b: str = "B",
    progress: Callable[[str], None] | None = None,
    on_run: Callable[[str, int, Metrics], None] | None = None,
    deadline_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ComparisonReport:
    """Run A and B alternately for ``rounds`` rounds and compare them per metric.

    ``order`` "ABAB" runs A then B every round; "ABBA" swaps the order every other round
    (a linear drift then favours neither). Metrics are the numeric keys every run of both
    sides returned. ``on_run(side, round_index, metrics)`` sees every run as it ends (to
    save it: a later failure then loses nothing). With ``deadline_s``, no round starts
    once that many seconds have passed; the report covers the rounds completed (at least
    one), so a time-boxed machine still gets a result.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ConfigError(f"rounds must be a positive integer, got {rounds!r}")
    if order not in ORDERS:
        raise ConfigError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
        raise ConfigError(f"tolerance must be in (0, 1), got {tolerance!r}")
    if deadline_s is not None and not (isinstance(deadline_s, (int, float))
                                       and deadline_s > 0):
        raise ConfigError(f"deadline must be > 0 s, got {deadline_s!r}")
    runs: dict[str, list[Metrics]] = {"A": [], "B": []}
    sequence: list[str] = []
    started = clock()
    done = 0
    for k in range(rounds):
        if k and deadline_s is not None and clock() - started >= deadline_s:
            if progress:
                progress(f"deadline of {deadline_s:g} s reached after {k} of {rounds} rounds")
            break
        pair = ("B", "A") if order == "ABBA" and k % 2 else ("A", "B")
        for side in pair:
            if progress:
                progress(f"round {k + 1}/{rounds}: {label_a if side == 'A' else label_b}")
            fn = run_a if side == "A" else run_b
            metrics = _numeric(fn(), side, k)
            runs[side].append(metrics)
            sequence.append(side)
            if on_run:
                on_run(side, k, metrics)
        done = k + 1
    report = ComparisonReport(label_a, label_b, done, order, float(tolerance),
                              sequence=sequence)
    common = set.intersection(*(set(r) for r in runs["A"] + runs["B"]))
    if not common:
        raise GreenllmError(f"{label_a} and {label_b} returned no metric in common")
    for name in sorted(common):
        report.metrics[name] = compare_values(
            name, [r[name] for r in runs["A"]], [r[name] for r in runs["B"]], tolerance)
    return report


def parse_last_json_line(stdout: str, what: str) -> dict[str, Any]:
    """The JSON object on the last non-empty line of ``stdout``."""
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise GreenllmError(f"{what} printed nothing (expected a JSON dict on its last line)")
    try:
        obj = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise GreenllmError(f"{what}: last stdout line is not JSON ({exc}): "
                            f"{lines[-1][:120]!r}") from exc
    if not isinstance(obj, dict):
        raise GreenllmError(f"{what}: last stdout line is JSON {type(obj).__name__}, not a dict")
    return obj


def command_runner(command: str, *, timeout_s: float = 3600.0,
                   echo: Callable[[str], None] | None = None) -> Runner:
    """A runner that executes ``command`` in a shell and reads its last stdout line.

    ``{round}`` in the command is replaced by the run's index (0, 1, …), e.g. to vary a
    seed per round. A failing command is a one-line error naming it.
    """
    if not command.strip():
        raise ConfigError("empty command")
    counter = [0]

    def run() -> dict[str, Any]:
        cmd = command.replace("{round}", str(counter[0]))
        counter[0] += 1
        try:
            done = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise GreenllmError(f"command timed out after {timeout_s:g} s: {cmd}") from exc
        if echo and done.stderr:
            echo(done.stderr.rstrip())
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or [""])[-1][:200]
            raise GreenllmError(f"command exited {done.returncode}: {cmd} ({tail})")
        return parse_last_json_line(done.stdout, f"command {cmd!r}")

    return run


def print_json_line(metrics: Mapping[str, Any]) -> None:
    """The runner protocol: one JSON dict on the last stdout line."""
    sys.stdout.write(json.dumps(dict(metrics), sort_keys=True) + "\n")
    sys.stdout.flush()
