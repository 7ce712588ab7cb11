"""Repeats spread over several engine starts (``load.engine_starts``).

A vLLM start carries its own latency offset: on the lent H100 TTFT p50 moved 9-15 % and
TBT p50 6-11 % from one start to the next at the same load, more than the repeats inside
one start let one expect (docs/uncertainty.md, "Engine starts"). An interval over
repeats that all ran in one start says how precisely that start was measured. Spread
over k starts, the repeats sample the offset too, and the interval covers it, for k - 1
more engine starts per instance.

Repeat round r runs in start ``r * k // cap`` (cap: the fixed repeat count or the
adaptive cap), so the starts take consecutive, near-equal blocks of rounds and every
cell meets every start; the max-throughput search and the SLO baselines stay in the
first. A resumed run begins with a fresh start anyway. Each load point records the
start that measured it (``engine_start``) by its count, not its block: a run cut inside a
block and resumed measures the rest of that block in a new start, and the start-offset
analysis (``analysis.start_offsets``) must not pool the two under one number, so the
resumed run numbers its starts after the highest its cells record (``next_label``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from greenllm.engine.base import Engine


def start_of(repeat: int, cap: int, starts: int) -> int:
    """Which engine start (0-based) repeat round ``repeat`` of ``cap`` runs in."""
    return repeat * starts // cap


def problems(starts: Any, cap: int | None) -> list[str]:
    """One line per problem with ``load.engine_starts`` against the repeats it spreads."""
    if isinstance(starts, bool) or not isinstance(starts, int) or starts < 1:
        return [f"load.engine_starts={starts!r}: must be an integer >= 1"]
    if cap is not None and starts > cap:
        return [f"load.engine_starts={starts} is above the {cap} repeat(s) it spreads over: "
                f"at most one start per repeat"]
    return []


def next_label(summaries: Iterable[Mapping[str, Any] | None]) -> int:
    """The number this run's first engine start records: one past the highest any of
    ``summaries`` (the cells it measures) records, 0 in a fresh run."""
    seen = [int(lp["engine_start"]) for s in summaries if s
            for lp in s.get("load_points") or [] if lp.get("engine_start") is not None]
    return max(seen) + 1 if seen else 0


class EngineStarts:
    """The instance's engine, started again between repeat rounds when asked.

    ``start`` starts one engine (the engine kind's ``start`` with its arguments bound);
    ``on_start`` receives each start's duration and the engine (the spend ledger, the
    progress line). ``stop`` stops whichever engine is running, so one exit callback
    covers every start."""

    def __init__(self, start: Callable[[], Engine], stop_grace_s: float,
                 on_start: Callable[[float, Engine], None] | None = None):
        self._start, self._grace, self._on_start = start, stop_grace_s, on_start
        self.engine: Engine | None = None

    def start(self) -> Engine:
        t0 = time.monotonic()
        self.engine = self._start()
        if self._on_start is not None:
            self._on_start(time.monotonic() - t0, self.engine)
        return self.engine

    def restart(self) -> Engine:
        """Stop the running engine (its GPU memory freed first), then start another."""
        self.stop()
        return self.start()

    def stop(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.stop(self._grace)
