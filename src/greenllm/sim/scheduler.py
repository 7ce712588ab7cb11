"""Iteration-level continuous batching, like vLLM v1's scheduler with chunked prefill.

Pure logic, no clocks: each ``step()`` decides what one engine iteration runs and which
requests emit a token at its end. Policy per iteration, within ``max_num_batched_tokens``
(the token budget) and ``max_num_seqs`` (the batch cap):

1. every running request that finished its prefill decodes one token (decodes first, so
   running requests never stall behind a long prompt);
2. running requests whose prompt is partly prefilled continue with the next chunk;
3. waiting requests are admitted first-come-first-served while the batch has room and
   budget is left; a prompt longer than the remaining budget is chunked.

A request emits its first token in the iteration that completes its prompt, then one
token per iteration until it has ``max_tokens``. No preemption, no KV-cache capacity
limit, no prefix caching (see docs/simulator.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from greenllm.errors import ConfigError


@dataclass(eq=False)
class SimRequest:
    """One sequence in the engine. ``tag`` is free for the caller (e.g. the HTTP stream)."""

    request_id: str
    prompt_tokens: int
    max_tokens: int
    tag: Any = None
    prefilled: int = 0  # prompt tokens already in the KV cache
    generated: int = 0  # output tokens emitted
    finished: bool = False

    def __post_init__(self) -> None:
        if self.prompt_tokens < 1:
            raise ConfigError(f"request {self.request_id}: prompt must have at least 1 token")
        if self.max_tokens < 1:
            raise ConfigError(f"request {self.request_id}: max_tokens must be >= 1")

    @property
    def context_len(self) -> int:
        """Tokens in the KV cache once this iteration's token is appended."""
        return self.prefilled + self.generated


@dataclass
class ScheduledBatch:
    """What one iteration runs. ``emitted`` requests get one token at its end."""

    index: int
    prefill_chunks: list[tuple[int, int]] = field(default_factory=list)  # (new, cached)
    decode_context_lens: list[int] = field(default_factory=list)
    emitted: list[SimRequest] = field(default_factory=list)
    finished: list[SimRequest] = field(default_factory=list)
    num_prefill_seqs: int = 0

    @property
    def num_sampled(self) -> int:
        return len(self.emitted)

    @property
    def num_tokens(self) -> int:
        return sum(n for n, _ in self.prefill_chunks) + len(self.decode_context_lens)

    @property
    def num_seqs(self) -> int:
        return self.num_prefill_seqs + len(self.decode_context_lens)

    def __bool__(self) -> bool:
        return bool(self.prefill_chunks or self.decode_context_lens)


class Scheduler:
    def __init__(self, max_num_seqs: int, max_num_batched_tokens: int):
        if max_num_seqs < 1:
            raise ConfigError(f"max_num_seqs must be >= 1, got {max_num_seqs}")
        if max_num_batched_tokens < 1:
            raise ConfigError(f"max_num_batched_tokens must be >= 1, got {max_num_batched_tokens}")
        self.max_num_seqs = max_num_seqs
        self.max_num_batched_tokens = max_num_batched_tokens
        self.waiting: deque[SimRequest] = deque()
        self.running: list[SimRequest] = []  # admission order
        self.iteration = 0

    # --- queue management -------------------------------------------------------------
    def add(self, request: SimRequest) -> None:
        self.waiting.append(request)

    def abort(self, request: SimRequest) -> None:
        """Drop a request (client went away); a no-op if it already finished."""
        request.finished = True
        if request in self.running:
            self.running.remove(request)
        else:
            try:
                self.waiting.remove(request)
            except ValueError:
                pass

    def has_work(self) -> bool:
        return bool(self.running or self.waiting)

    @property
    def num_running(self) -> int:
        return len(self.running)

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    # --- one iteration ------------------------------------------------------------------
    def step(self) -> ScheduledBatch:
        """Schedule one iteration and commit its effects (tokens emitted, requests finished).

        The caller runs the batch (sleeps its simulated duration) and then delivers the
        tokens of ``batch.emitted``; requests added meanwhile join the next step.
        """
        batch = ScheduledBatch(index=self.iteration)
        self.iteration += 1
        budget = self.max_num_batched_tokens
        decode_lens = batch.decode_context_lens
        emitted = batch.emitted

        # 1. decodes (one token each) in admission order
        partial: list[SimRequest] = []
        for req in self.running:
            if req.prefilled < req.prompt_tokens:
                partial.append(req)
                continue
            if budget < 1:
                break
            budget -= 1
            decode_lens.append(req.prefilled + req.generated)
            emitted.append(req)

        # 2. partly prefilled prompts continue, 3. new admissions FCFS
        for req in partial:
            if budget < 1:
                break
            budget -= self._schedule_prefill(batch, req, budget)
        while self.waiting and budget > 0 and len(self.running) < self.max_num_seqs:
            req = self.waiting.popleft()
            self.running.append(req)
            budget -= self._schedule_prefill(batch, req, budget)

        for req in emitted:
            req.generated += 1
            if req.generated >= req.max_tokens:
                req.finished = True
                batch.finished.append(req)
        if batch.finished:
            self.running = [r for r in self.running if not r.finished]
        return batch

    @staticmethod
    def _schedule_prefill(batch: ScheduledBatch, req: SimRequest, budget: int) -> int:
        chunk = min(req.prompt_tokens - req.prefilled, budget)
        batch.prefill_chunks.append((chunk, req.prefilled))
        batch.num_prefill_seqs += 1
        req.prefilled += chunk
        if req.prefilled == req.prompt_tokens:
            batch.emitted.append(req)  # the iteration that completes a prompt samples token 1
        return chunk


def emission_schedule(
    scheduler: Scheduler,
    arrivals: Mapping[int, Iterable[SimRequest]],
    max_iterations: int = 1_000_000,
) -> dict[str, list[int]]:
    """Run a scheduler offline: ``arrivals[i]`` join before iteration ``i``.

    Returns, per request id, the iteration indices at which it emitted each token.
    Idle iterations (nothing to run) still advance the index so arrival times keep
    their meaning.
    """
    out: dict[str, list[int]] = {}
    pending = {i: list(reqs) for i, reqs in arrivals.items()}
    last_arrival = max(pending, default=-1)
    for i in range(max_iterations):
        for req in pending.pop(i, ()):
            out.setdefault(req.request_id, [])
            scheduler.add(req)
        if not scheduler.has_work():
            if i >= last_arrival:
                return out
            scheduler.iteration += 1  # an idle iteration slot
            continue
        for req in scheduler.step().emitted:
            out[req.request_id].append(i)
    raise ConfigError(f"scheduler did not drain within {max_iterations} iterations")
