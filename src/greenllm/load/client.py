"""Open-loop streaming load client for OpenAI-compatible ``/v1/completions`` servers.

Each request is sent at its own offset of an absolute schedule on the event loop's clock
(``loop.call_at``; the loop clock is ``time.monotonic()``), whatever happened to earlier
requests: an overloaded server makes requests queue, it does not slow the sender. How late
each send was (``lateness_s``) is recorded so a client that cannot keep up is visible.

Requests ask for exactly N output tokens the way ``vllm bench serve`` does
(``max_tokens = min_tokens = N``, ``ignore_eos``, streaming with a final usage chunk,
greedy sampling). The prompt goes as text by default, as users' clients and ``vllm bench
serve`` send it, so the server's tokenization is inside TTFT; ``prompt_format="token_ids"``
sends ids instead (``greenllm.load.prompts``). Either way the input length is exact.

Token arrival times: every network read is timestamped once; each streamed chunk in it
carries some number of tokens, counted (``tokens_per_chunk``):

* ``"auto"``: ``len(choice["token_ids"])`` when the server sends token ids (vLLM does
  with ``return_token_ids``, which we request), else the number of whitespace-separated
  words of the chunk's text (exact for greenllm's word-level tokenizer);
* ``"words"``: always the word count (a chunk with empty text carries no token);
* ``"chunks"``: one token per chunk that has a choice, ``vllm bench serve``'s view.

Each token gets its chunk's arrival time; metrics (``greenllm.load.metrics``) derive TTFT,
TBT, TPOT and E2E from these times and document how they relate to vLLM's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Literal

import aiohttp
import numpy as np

from greenllm.errors import ConfigError
from greenllm.load.records import (  # noqa: F401  (re-exported: the client's public API)
    RECORD_COLUMNS,
    RequestRecord,
    frame_to_records,
    records_to_frame,
)
from greenllm.load.stream_request import (  # noqa: F401  (re-exported)
    DEFAULT_CONNECTION_LIMIT,
    _Run,
    completions_url,
    env_proxy_for,
    make_session,
    request_body,
)
from greenllm.load.workloads import Workload, workload_from

TokensPerChunk = Literal["auto", "words", "chunks"]
TOKENS_PER_CHUNK_MODES = ("auto", "words", "chunks")
DEFAULT_VOCAB_SIZE = 32000
# Lead time between building the schedule and the first send, so the first request is
# not late merely because the loop was busy setting up the timers.
SCHEDULE_LEAD_S = 0.005

ProgressCallback = Callable[[int, int], None]


_gc_frozen_depth = 0


@contextlib.contextmanager
def _gc_frozen() -> Any:
    """Keep the garbage collector from pausing the loop for tens of ms mid-run.

    A full collection walks every object of the process (pandas, numpy, a test runner's
    state...): seen pausing the client 90 ms, which shows up as send lateness and TTFT.
    Collect once before the run, then freeze what exists so later collections walk only
    the run's own objects (``vllm bench serve`` freezes its heap likewise).
    """
    global _gc_frozen_depth
    if _gc_frozen_depth == 0:
        gc.collect()
        gc.freeze()
    _gc_frozen_depth += 1
    try:
        yield
    finally:
        _gc_frozen_depth -= 1
        if _gc_frozen_depth == 0:
            gc.unfreeze()


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _check_duration(duration_s: Any) -> None:
    if not (isinstance(duration_s, (int, float)) and duration_s > 0):
        raise ConfigError(f"duration must be > 0 s, got {duration_s!r}")


def _validate(offsets: np.ndarray, timeout_s: float, tokens_per_chunk: str, seed: int) -> None:
    if offsets.ndim != 1 or offsets.size == 0:
        raise ConfigError("offsets_s must be a non-empty 1-D sequence of seconds")
    if not np.all(np.isfinite(offsets)) or offsets.min() < 0:
        raise ConfigError("offsets_s must be finite and >= 0")
    if np.any(np.diff(offsets) < 0):
        raise ConfigError("offsets_s must be non-decreasing")
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ConfigError(f"timeout_s must be positive, got {timeout_s!r}")
    if tokens_per_chunk not in TOKENS_PER_CHUNK_MODES:
        raise ConfigError(f"tokens_per_chunk must be one of {', '.join(TOKENS_PER_CHUNK_MODES)}, "
                          f"got {tokens_per_chunk!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an integer, got {seed!r}")


async def run_requests(
    base_url: str,
    model: str,
    workload: Workload | str | Mapping[str, Any],
    offsets_s: Sequence[float] | np.ndarray,
    *,
    seed: int,
    timeout_s: float,
    tokens_per_chunk: TokensPerChunk = "auto",
    session: aiohttp.ClientSession | None = None,
    on_progress: ProgressCallback | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    request_id_prefix: str = "",
    extra_body: Mapping[str, Any] | None = None,
    request_token_ids: bool = True,
    prompt_format: str = "text",
    input_tokens: Sequence[int] | None = None,
    output_tokens: Sequence[int] | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
    trust_env: bool = True,
) -> list[RequestRecord]:
    """Send one request per offset (seconds from now) and stream every response.

    Returns one record per request, in schedule order. A request that fails (HTTP error,
    refused connection, stream cut, timeout) gets ``ok=False`` and a one-line ``error``;
    the run goes on. ``on_progress(done, total)`` is called as requests finish.
    ``seed`` picks the prompts (distinct random tokens per request); ``prompt_format``
    sends them as "text" (the default) or "token_ids".
    ``input_tokens`` / ``output_tokens`` (one per offset, e.g. a trace's) override the
    workload's lengths; ``on_record(record)`` sees each request as it finishes (a
    controller that reacts to latency while the run goes on). ``trust_env``: the session
    made here honours proxy settings and ``~/.netrc`` as ``vllm bench serve``'s does
    (``make_session``); ignored when a ``session`` is passed.
    """
    workload = workload_from(workload)
    offsets = np.asarray(offsets_s, dtype=float)
    _validate(offsets, timeout_s, tokens_per_chunk, seed)
    async with _open_run(session, base_url, model, workload, len(offsets), int(seed), timeout_s,
                         tokens_per_chunk, vocab_size, request_id_prefix, extra_body,
                         request_token_ids, output_tokens, prompt_format, input_tokens,
                         trust_env=trust_env) as run:
        return await _run_schedule(run, offsets, on_progress, on_record)


_PROXY_WARNED: set[tuple[str, str]] = set()


@contextlib.asynccontextmanager
async def _open_run(session: aiohttp.ClientSession | None, *run_args: Any,
                    trust_env: bool = True) -> AsyncIterator[_Run]:
    """The ``_Run`` that ``run_requests`` and ``run_sequential`` send through, with the GC
    frozen while it runs; ``run_args`` are ``_Run``'s arguments after the session.

    Without a ``session`` one is made here (``make_session(trust_env=...)``) and closed
    when the run ends, failed or not.
    """
    own_session = session is None
    if own_session:
        session = make_session(trust_env=trust_env)
        proxy = env_proxy_for(str(run_args[0])) if trust_env else None
        if proxy is not None and (str(run_args[0]), proxy) not in _PROXY_WARNED:
            # once per server and proxy: a run makes one session per probe and load point
            _PROXY_WARNED.add((str(run_args[0]), proxy))
            print(f"greenllm: warning: requests to {run_args[0]} go through proxy {proxy} "
                  "(HTTP(S)_PROXY): set NO_PROXY for that host, or load.trust_env=false",
                  file=sys.stderr, flush=True)
    assert session is not None
    try:
        run = _Run(session, *run_args)
        with _gc_frozen():
            yield run
    finally:
        if own_session:
            await session.close()


def _start_task(loop: asyncio.AbstractEventLoop, coro: Any) -> asyncio.Task[Any]:
    """Start ``coro`` now where Python allows (3.12+ eager tasks): the request is written
    to its connection inside the timer callback instead of one loop iteration later,
    behind whatever I/O that iteration handles (seen: p99 0.7 ms at 500 req/s)."""
    if _EAGER_TASKS:
        return asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg]
    return loop.create_task(coro)


_EAGER_TASKS = sys.version_info >= (3, 12)


async def _run_schedule(
    run: _Run, offsets: np.ndarray, on_progress: ProgressCallback | None,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> list[RequestRecord]:
    loop = asyncio.get_running_loop()
    total = len(offsets)
    records: list[RequestRecord | None] = [None] * total
    finished = loop.create_future()
    tasks: set[asyncio.Task[RequestRecord]] = set()
    n_done = 0

    def on_done(task: asyncio.Task[RequestRecord]) -> None:
        nonlocal n_done
        tasks.discard(task)
        n_done += 1
        if on_record is not None and not task.cancelled() and task.exception() is None:
            try:
                on_record(task.result())
            except Exception as exc:  # noqa: BLE001 - a controller bug must not stop a run
                print(f"greenllm: record callback failed: {exc}", file=sys.stderr)
        if on_progress is not None:
            try:
                on_progress(n_done, total)
            except Exception as exc:  # noqa: BLE001 - a progress bug must not stop a run
                print(f"greenllm: progress callback failed: {exc}", file=sys.stderr)
        if n_done == total and not finished.done():
            finished.set_result(None)

    def launch(index: int, offset_s: float, due_s: float) -> None:
        rec = run.new_record(index, offset_s, due_s)
        records[index] = rec
        task = _start_task(loop, run.send(rec))
        tasks.add(task)
        task.add_done_callback(on_done)

    # One timer at a time: each firing launches every request now due and arms the
    # next, so the timer heap stays small and no set-up time is spent before t0.
    offset_list = offsets.tolist()
    next_index = 0
    timer: list[asyncio.TimerHandle] = []

    def dispatch() -> None:
        nonlocal next_index
        now = loop.time()
        while next_index < total and t0 + offset_list[next_index] <= now:
            off = offset_list[next_index]
            launch(next_index, off, t0 + off)
            next_index += 1
        if next_index < total:
            timer[:] = [loop.call_at(t0 + offset_list[next_index], dispatch)]

    t0 = loop.time() + SCHEDULE_LEAD_S
    timer.append(loop.call_at(t0, dispatch))
    try:
        await finished
    finally:
        for handle in timer:
            handle.cancel()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    return [rec for rec in records if rec is not None]


async def run_sequential(
    base_url: str,
    model: str,
    workload: Workload | str | Mapping[str, Any],
    n_requests: int,
    *,
    seed: int,
    timeout_s: float,
    gap_s: float = 0.05,
    tokens_per_chunk: TokensPerChunk = "auto",
    session: aiohttp.ClientSession | None = None,
    on_progress: ProgressCallback | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    request_id_prefix: str = "",
    extra_body: Mapping[str, Any] | None = None,
    request_token_ids: bool = True,
    prompt_format: str = "text",
    trust_env: bool = True,
) -> list[RequestRecord]:
    """Send ``n_requests`` one at a time: each starts ``gap_s`` after the previous ended.

    The server then never batches or queues them: this is the paper's "request alone"
    used for the SLO baseline. ``scheduled_offset_s`` is the offset actually used.
    ``trust_env`` as for ``run_requests``.
    """
    workload = workload_from(workload)
    _check_positive_int("n_requests", n_requests)
    if not (isinstance(gap_s, (int, float)) and gap_s >= 0):
        raise ConfigError(f"gap_s must be >= 0, got {gap_s!r}")
    _validate(np.zeros(1), timeout_s, tokens_per_chunk, seed)
    records = []
    async with _open_run(session, base_url, model, workload, n_requests, int(seed), timeout_s,
                         tokens_per_chunk, vocab_size, request_id_prefix, extra_body,
                         request_token_ids, None, prompt_format, trust_env=trust_env) as run:
        t0 = time.monotonic()
        for i in range(n_requests):
            if i:
                await asyncio.sleep(gap_s)
            due = time.monotonic()
            records.append(await run.send(run.new_record(i, due - t0, due)))
            if on_progress is not None:
                on_progress(i + 1, n_requests)
    return records


def _run_sync(coro: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("the *_sync client functions cannot run inside an event loop; await "
                       "the async function instead")


def run_requests_sync(*args: Any, **kwargs: Any) -> list[RequestRecord]:
    """``run_requests`` for callers without an event loop (same arguments)."""
    return _run_sync(run_requests(*args, **kwargs))


def run_sequential_sync(*args: Any, **kwargs: Any) -> list[RequestRecord]:
    """``run_sequential`` for callers without an event loop (same arguments)."""
    return _run_sync(run_sequential(*args, **kwargs))


def stderr_progress(label: str, every_s: float = 5.0) -> ProgressCallback:
    """A progress callback printing ``label: done/total`` to stderr at most every ``every_s``."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= every_s:
            last[0] = now
            print(f"{label}: {done}/{total} requests done", file=sys.stderr, flush=True)

    return report
