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
import json
import math
import resource
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import aiohttp
import numpy as np
import pandas as pd

from greenllm.errors import ConfigError
from greenllm.load.prompts import (
    TEXT_ID_LIMIT,
    check_prompt_format,
    prompt_text,
    prompt_token_id_batch,
    prompt_token_id_ragged,
)
from greenllm.load.workloads import Workload, workload_from

TokensPerChunk = Literal["auto", "words", "chunks"]
TOKENS_PER_CHUNK_MODES = ("auto", "words", "chunks")
DEFAULT_CONNECTION_LIMIT = 8192
DEFAULT_VOCAB_SIZE = 32000
# Lead time between building the schedule and the first send, so the first request is
# not late merely because the loop was busy setting up the timers.
SCHEDULE_LEAD_S = 0.005
_HEADERS = {"Content-Type": "application/json"}
_decode_json = json.JSONDecoder().decode  # str in: skips json.loads' encoding sniffing

ProgressCallback = Callable[[int, int], None]


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request. Times ending in ``_s`` without ``wall`` are
    ``time.monotonic()`` seconds (the loop clock, the telemetry sampler's ``t_mono``);
    ``nan`` where the event never happened."""

    request_id: str
    index: int
    workload_id: str
    input_tokens_requested: int
    output_tokens_requested: int
    scheduled_offset_s: float  # offset in the arrival schedule (0 = first request)
    scheduled_s: float  # monotonic time the request was due
    send_s: float = math.nan  # monotonic time the request was handed to the connection
    send_wall_s: float = math.nan  # time.time() at send, to align with other machines' logs
    lateness_s: float = math.nan  # send_s - scheduled_s
    first_token_s: float = math.nan  # arrival of the first chunk that carried a token
    last_token_s: float = math.nan  # arrival of the chunk that carried the last token
    end_s: float = math.nan  # stream finished ([DONE]) or failed
    token_times_s: list[float] = field(default_factory=list)  # one entry per token
    n_chunks: int = 0  # streamed chunks with a choice, including ones with no token
    tokens_in: int | None = None  # usage.prompt_tokens reported by the server
    tokens_out: int | None = None  # usage.completion_tokens reported by the server
    token_count_source: str = ""  # "token_ids", "words" or "chunks" (how tokens were counted)
    http_status: int = 0  # 0: no HTTP response (connection refused, timeout before headers)
    error: str = ""  # one line; "" when the request succeeded
    ok: bool = False


RECORD_COLUMNS = tuple(f.name for f in fields(RequestRecord))
_NULLABLE_INT_COLUMNS = ("tokens_in", "tokens_out")


def records_to_frame(records: Sequence[RequestRecord]) -> pd.DataFrame:
    """One row per request; ``token_times_s`` is a list column (parquet list<double>)."""
    columns: dict[str, list[Any]] = {name: [] for name in RECORD_COLUMNS}
    for rec in records:
        for name in RECORD_COLUMNS:
            columns[name].append(getattr(rec, name))
    frame = pd.DataFrame(columns, columns=list(RECORD_COLUMNS))
    for name in _NULLABLE_INT_COLUMNS:
        frame[name] = pd.array(columns[name], dtype="Int64")
    return frame


def frame_to_records(frame: pd.DataFrame) -> list[RequestRecord]:
    """Inverse of ``records_to_frame`` (also for frames read back from parquet)."""
    records = []
    for row in frame.to_dict("records"):
        kwargs = {}
        for name in RECORD_COLUMNS:
            value = row.get(name)
            if name == "token_times_s":
                value = [] if value is None else [float(v) for v in value]
            elif name in _NULLABLE_INT_COLUMNS:
                value = None if value is None or pd.isna(value) else int(value)
            elif name in ("index", "n_chunks", "http_status", "input_tokens_requested",
                          "output_tokens_requested"):
                value = int(value)
            elif name in ("request_id", "workload_id", "token_count_source", "error"):
                value = "" if value is None or (isinstance(value, float) and math.isnan(value)) \
                    else str(value)
            elif name == "ok":
                value = bool(value)
            else:
                value = float(value)
            kwargs[name] = value
        records.append(RequestRecord(**kwargs))
    return records


def completions_url(base_url: str) -> str:
    """``http://host:port`` (or ``.../v1``) -> ``http://host:port/v1/completions``."""
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"server URL must start with http:// or https://, got {base_url!r}")
    base = base_url.rstrip("/")
    if base.endswith("/v1/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/completions"
    return base + "/v1/completions"


def request_body(
    model: str, prompt: str | Sequence[int], output_tokens: int,
    extra_body: Mapping[str, Any] | None = None, request_token_ids: bool = True,
) -> dict[str, Any]:
    """The JSON body of one completion request (see module docstring); ``prompt`` is the
    text or the token ids."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt if isinstance(prompt, str) else list(prompt),
        "max_tokens": output_tokens,
        "min_tokens": output_tokens,
        "ignore_eos": True,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request_token_ids:
        # vLLM >= 0.10.2 then puts the generated ids of each chunk in choice.token_ids:
        # exact token counts even for special tokens that decode to empty text.
        body["return_token_ids"] = True
    if extra_body:
        body.update(extra_body)
    return body


def make_session(connection_limit: int = DEFAULT_CONNECTION_LIMIT) -> aiohttp.ClientSession:
    """One pooled session for a whole run: connections are reused between requests."""
    _raise_open_file_limit(connection_limit + 256)
    connector = aiohttp.TCPConnector(
        limit=connection_limit, limit_per_host=connection_limit, keepalive_timeout=60,
        force_close=False, enable_cleanup_closed=True,
    )
    # No session-wide timeout: each request gets its own (``timeout_s``).
    # No cookies and no decompression: nothing per request that a benchmark does not need.
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def _raise_open_file_limit(wanted: int) -> None:
    # Each request in flight holds a socket; an overloaded server can keep thousands open.
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass


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


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class _Run:
    """Shared state of one run: session, URL, pre-built request bodies, counting mode."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, model: str, workload: Workload,
        n: int, seed: int, timeout_s: float, tokens_per_chunk: str, vocab_size: int,
        request_id_prefix: str, extra_body: Mapping[str, Any] | None, request_token_ids: bool,
        output_tokens: Sequence[int] | None = None, prompt_format: str = "text",
        input_tokens: Sequence[int] | None = None,
    ):
        self.session = session
        self.url = completions_url(base_url)
        self.workload = workload
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.timeout_s = timeout_s
        self.mode = tokens_per_chunk
        self.prefix = request_id_prefix
        # Bodies are serialised before the clock starts so that sending costs no JSON
        # encoding of 1024-id prompts on the hot path (~7 bytes per prompt token held).
        # ``output_tokens`` (one per body) overrides the workload's output length; request
        # ``i`` is sent with body ``i % n``, so a closed loop can cycle through a pool.
        self.output_tokens = ([workload.output_tokens] * n if output_tokens is None
                              else [int(k) for k in output_tokens])
        if len(self.output_tokens) != n:
            raise ConfigError(f"need {n} output lengths, got {len(self.output_tokens)}")
        self.prompt_format = check_prompt_format(prompt_format)
        ids_below = min(vocab_size, TEXT_ID_LIMIT) if prompt_format == "text" else vocab_size
        # ``input_tokens`` (one per body, e.g. a trace's) overrides the workload's prompt length.
        self.input_tokens = ([workload.input_tokens] * n if input_tokens is None
                             else [int(k) for k in input_tokens])
        if len(self.input_tokens) != n:
            raise ConfigError(f"need {n} input lengths, got {len(self.input_tokens)}")
        prompts = (prompt_token_id_batch(n, workload.input_tokens, ids_below, seed)
                   if input_tokens is None else
                   prompt_token_id_ragged(self.input_tokens, ids_below, seed))
        as_prompt = prompt_text if prompt_format == "text" else np.ndarray.tolist
        self.bodies = [
            json.dumps(request_body(model, as_prompt(row), k, extra_body, request_token_ids),
                       separators=(",", ":")).encode()
            for row, k in zip(prompts, self.output_tokens, strict=True)
        ]

    def new_record(self, index: int, offset_s: float, scheduled_s: float) -> RequestRecord:
        return RequestRecord(
            request_id=f"{self.prefix}{index:06d}", index=index, workload_id=self.workload.id,
            input_tokens_requested=self.input_tokens[index % len(self.bodies)],
            output_tokens_requested=self.output_tokens[index % len(self.bodies)],
            scheduled_offset_s=offset_s, scheduled_s=scheduled_s,
        )

    async def send(self, rec: RequestRecord) -> RequestRecord:
        rec.send_s = time.monotonic()
        rec.send_wall_s = time.time()
        rec.lateness_s = rec.send_s - rec.scheduled_s
        done = False
        try:
            async with self.session.post(
                self.url, data=self.bodies[rec.index % len(self.bodies)], headers=_HEADERS,
                timeout=self.timeout,
            ) as resp:
                rec.http_status = resp.status
                if resp.status != 200:
                    body = await resp.text(errors="replace")
                    rec.error = _one_line(f"HTTP {resp.status}: {body}")
                else:
                    done = await self._read_stream(resp, rec)
        except asyncio.CancelledError:
            rec.error = "cancelled"
            rec.end_s = time.monotonic()
            raise
        except TimeoutError:
            rec.error = f"timeout after {self.timeout_s:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure is this request's, not the run's
            rec.error = _one_line(f"{type(exc).__name__}: {exc}") or type(exc).__name__
        rec.end_s = time.monotonic()
        if not rec.error:
            if not done:
                rec.error = "stream ended before data: [DONE]"
            elif not rec.token_times_s:
                rec.error = "no token received"
        rec.ok = not rec.error
        return rec

    async def _read_stream(self, resp: aiohttp.ClientResponse, rec: RequestRecord) -> bool:
        """Parse SSE messages as they arrive; True if ``data: [DONE]`` was seen.

        Reads on to the end of the body after [DONE] (the chunked terminator follows at
        once): a response left unfinished makes aiohttp close its connection instead of
        pooling it, and every request would pay a new TCP connection."""
        mode = self.mode
        times = rec.token_times_s
        buf = b""
        done = False
        async for data in resp.content.iter_any():
            if done:
                continue
            now = time.monotonic()
            messages = (buf + data if buf else data).split(b"\n\n")
            buf = messages.pop()  # an incomplete message waits for the next read
            for message in messages:
                message = message.strip()
                if not message.startswith(b"data:"):
                    continue  # SSE comment (":ping") or a field we do not use
                payload = message[5:].strip()
                if payload == b"[DONE]":
                    done = True
                    break
                obj = _decode_json(payload.decode())
                choices = obj.get("choices")
                if choices:
                    choice = choices[0]
                    rec.n_chunks += 1
                    if mode == "chunks":
                        k = 1
                        rec.token_count_source = "chunks"
                    else:
                        ids = choice.get("token_ids") if mode == "auto" else None
                        if ids is not None:
                            k = len(ids)
                            rec.token_count_source = "token_ids"
                        else:
                            k = len((choice.get("text") or "").split())
                            rec.token_count_source = "words"
                    if k:
                        if not times:
                            rec.first_token_s = now
                        times.extend([now] * k)
                        rec.last_token_s = now
                usage = obj.get("usage")
                if usage:
                    rec.tokens_in = usage.get("prompt_tokens")
                    rec.tokens_out = usage.get("completion_tokens")
                if "error" in obj and not choices:
                    err = obj["error"]
                    msg = err.get("message", err) if isinstance(err, dict) else err
                    rec.error = _one_line(f"server error in stream: {msg}")
        # A server may end with "data: [DONE]" and no blank line after it.
        return done or buf.strip() == b"data: [DONE]"


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
) -> list[RequestRecord]:
    """Send one request per offset (seconds from now) and stream every response.

    Returns one record per request, in schedule order. A request that fails (HTTP error,
    refused connection, stream cut, timeout) gets ``ok=False`` and a one-line ``error``;
    the run goes on. ``on_progress(done, total)`` is called as requests finish.
    ``seed`` picks the prompts (distinct random tokens per request); ``prompt_format``
    sends them as "text" (the default) or "token_ids".
    ``input_tokens`` / ``output_tokens`` (one per offset, e.g. a trace's) override the
    workload's lengths; ``on_record(record)`` sees each request as it finishes (a
    controller that reacts to latency while the run goes on).
    """
    workload = workload_from(workload)
    offsets = np.asarray(offsets_s, dtype=float)
    _validate(offsets, timeout_s, tokens_per_chunk, seed)
    async with _open_run(session, base_url, model, workload, len(offsets), int(seed), timeout_s,
                         tokens_per_chunk, vocab_size, request_id_prefix, extra_body,
                         request_token_ids, output_tokens, prompt_format, input_tokens) as run:
        return await _run_schedule(run, offsets, on_progress, on_record)


@contextlib.asynccontextmanager
async def _open_run(session: aiohttp.ClientSession | None, *run_args: Any) -> AsyncIterator[_Run]:
    """The ``_Run`` that ``run_requests`` and ``run_sequential`` send through, with the GC
    frozen while it runs; ``run_args`` are ``_Run``'s arguments after the session.

    Without a ``session`` one is made here and closed when the run ends, failed or not.
    """
    own_session = session is None
    if own_session:
        session = make_session()
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
) -> list[RequestRecord]:
    """Send ``n_requests`` one at a time: each starts ``gap_s`` after the previous ended.

    The server then never batches or queues them: this is the paper's "request alone"
    used for the SLO baseline. ``scheduled_offset_s`` is the offset actually used.
    """
    workload = workload_from(workload)
    _check_positive_int("n_requests", n_requests)
    if not (isinstance(gap_s, (int, float)) and gap_s >= 0):
        raise ConfigError(f"gap_s must be >= 0, got {gap_s!r}")
    _validate(np.zeros(1), timeout_s, tokens_per_chunk, seed)
    records = []
    async with _open_run(session, base_url, model, workload, n_requests, int(seed), timeout_s,
                         tokens_per_chunk, vocab_size, request_id_prefix, extra_body,
                         request_token_ids, None, prompt_format) as run:
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
