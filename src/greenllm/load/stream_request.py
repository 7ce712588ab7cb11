"""One streamed completion request: its URL and JSON body, the pooled HTTP session, and
the parser that timestamps each network read and counts the tokens in it.

``greenllm.load.client`` schedules many of these on one event loop; the module
docstring there says how tokens are counted (``tokens_per_chunk``) and why bodies are
built before the clock starts.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import numpy as np
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from greenllm.errors import ConfigError
from greenllm.load.prompts import (
    TEXT_ID_LIMIT,
    check_prompt_format,
    prompt_text,
    prompt_token_id_batch,
    prompt_token_id_ragged,
)
from greenllm.load.records import RequestRecord
from greenllm.load.workloads import Workload

DEFAULT_CONNECTION_LIMIT = 8192
_HEADERS = {"Content-Type": "application/json"}
_decode_json = json.JSONDecoder().decode  # str in: skips json.loads' encoding sniffing


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


def make_session(connection_limit: int = DEFAULT_CONNECTION_LIMIT, *,
                 trust_env: bool = True) -> aiohttp.ClientSession:
    """One pooled session for a whole run: connections are reused between requests.

    ``trust_env`` (default, as ``vllm bench serve``'s session): proxies from
    ``HTTP(S)_PROXY``/``NO_PROXY`` and credentials from ``~/.netrc`` apply. aiohttp then
    looks both up in worker threads for every request, after the TTFT clock has started:
    ~0.8-1.2 ms more TTFT per request (docs/load.md), which is the reference tool's
    offset too. ``trust_env=False`` skips those lookups.
    """
    _raise_open_file_limit(connection_limit + 256)
    connector = aiohttp.TCPConnector(
        limit=connection_limit, limit_per_host=connection_limit, keepalive_timeout=60,
        force_close=False, enable_cleanup_closed=True,
    )
    # No session-wide timeout: each request gets its own (``timeout_s``).
    # No cookies and no decompression: nothing per request that a benchmark does not need.
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(), trust_env=bool(trust_env),
    )


def env_proxy_for(base_url: str) -> str | None:
    """The proxy a ``trust_env`` session would send ``base_url``'s requests through
    (``HTTP(S)_PROXY`` unless ``NO_PROXY`` exempts the host), or None."""
    try:
        proxy, _auth = get_env_proxy_for_url(URL(base_url))
    except LookupError:
        return None
    return str(proxy)


def _raise_open_file_limit(wanted: int) -> None:
    # Each request in flight holds a socket; an overloaded server can keep thousands open.
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass


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
