"""A small real OpenAI-compatible streaming server for client tests and benchmarks.

It emits exactly ``max_tokens`` tokens as SSE chunks in vLLM's format, at programmed
times: the first at ``ttft_s`` after the request was admitted, then one chunk every
``tbt_s`` (token j of chunk-granular output at ``start + ttft + j*tbt``, absolute times so
sleep overshoot does not accumulate). Options: several tokens per chunk, extra chunks with
empty text (no token), ``token_ids`` in chunks, error status, cutting the connection
mid-stream, and a bounded number of slots (requests beyond it queue: a known capacity).

Runs on 127.0.0.1 on a free port, in a background thread (``ServerThread``) or its own
process (``python sse_test_server.py``, for benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Behavior:
    ttft_s: float = 0.0
    tbt_s: float = 0.0
    tokens_per_chunk: int = 1
    # After every k-th token chunk, send one more chunk with empty text and no token.
    empty_chunk_every: int = 0
    include_token_ids: bool = False
    # Token positions whose word is withheld (text "") but whose id is sent in token_ids:
    # a special token skipped by the detokenizer.
    special_token_positions: tuple[int, ...] = ()
    status: int = 200
    close_after_tokens: int | None = None  # cut the connection after this many tokens
    slots: int = 0  # > 0: at most this many requests generate at once; others wait
    first_token_id: int = 5


BehaviorFn = Callable[[dict[str, Any], int], Behavior]


def _chunk(request_id: str, created: int, model: str, text: str, finish: str | None,
           token_ids: list[int] | None) -> bytes:
    choice: dict[str, Any] = {"index": 0, "text": text, "logprobs": None,
                              "finish_reason": finish, "stop_reason": None}
    if token_ids is not None:
        choice["token_ids"] = token_ids
    obj = {"id": request_id, "object": "text_completion", "created": created, "model": model,
           "choices": [choice]}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


class SseServer:
    """The aiohttp app; ``behavior`` is a Behavior or ``f(body, request_number)``."""

    def __init__(self, behavior: Behavior | BehaviorFn = Behavior()):
        self.behavior: Behavior | BehaviorFn = behavior
        self.requests_seen = 0
        self.bodies: list[dict[str, Any]] = []
        self.keep_bodies = True
        self._slots: asyncio.Semaphore | None = None
        self._slots_n = 0

    def configure(self, behavior: Behavior | BehaviorFn | None = None, **changes: Any) -> None:
        base = behavior if behavior is not None else Behavior()
        self.behavior = replace(base, **changes) if changes else base
        self.requests_seen = 0
        self.bodies = []
        self._slots = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        return app

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "test", "root": "test"}]})

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        number = self.requests_seen
        self.requests_seen += 1
        if self.keep_bodies:
            self.bodies.append(body)
        b = self.behavior(body, number) if callable(self.behavior) else self.behavior
        if b.status != 200:
            return web.json_response({"object": "error", "message": "programmed failure",
                                      "code": b.status}, status=b.status)
        if b.slots > 0:
            if self._slots is None or self._slots_n != b.slots:
                self._slots, self._slots_n = asyncio.Semaphore(b.slots), b.slots
            async with self._slots:
                return await self._stream(request, body, b)
        return await self._stream(request, body, b)

    async def _stream(self, request: web.Request, body: dict[str, Any],
                      b: Behavior) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        start = loop.time()
        n_tokens = int(body.get("max_tokens") or 16)
        prompt = body.get("prompt")
        n_prompt = len(prompt) if isinstance(prompt, list) else len(str(prompt).split())
        rid = f"cmpl-{id(request):x}"
        created = int(time.time())
        model = body.get("model", "test")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        sent = 0
        chunk_no = 0
        while sent < n_tokens:
            due = start + b.ttft_s + chunk_no * b.tbt_s
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            k = min(b.tokens_per_chunk, n_tokens - sent)
            ids = list(range(b.first_token_id + sent, b.first_token_id + sent + k))
            words = [f"t{i}" for j, i in enumerate(ids) if sent + j not in
                     b.special_token_positions]
            text = "".join(" " + w for w in words)
            sent += k
            finish = "length" if sent == n_tokens else None
            await resp.write(_chunk(rid, created, model, text, finish,
                                    ids if b.include_token_ids else None))
            chunk_no += 1
            if b.close_after_tokens is not None and sent >= b.close_after_tokens:
                assert request.transport is not None
                request.transport.close()  # abrupt: no terminating chunk
                return resp
            if b.empty_chunk_every and chunk_no % b.empty_chunk_every == 0 and sent < n_tokens:
                await asyncio.sleep(b.tbt_s / 2)
                await resp.write(_chunk(rid, created, model, "", None,
                                        [] if b.include_token_ids else None))
        usage = {"prompt_tokens": n_prompt, "completion_tokens": n_tokens,
                 "total_tokens": n_prompt + n_tokens}
        final = {"id": rid, "object": "text_completion", "created": created, "model": model,
                 "choices": [], "usage": usage}
        await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


class ServerThread:
    """Run an SseServer on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, server: SseServer | None = None):
        self.server = server or SseServer()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._main, name="sse-test-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.server.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def serve_forever(behavior: Behavior, port_queue: Any, cpu: int | None = None) -> None:
    """Process entry point for benchmarks: serve until killed, report the port."""
    import os

    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    server = SseServer(behavior)
    server.keep_bodies = False

    async def main() -> None:
        runner = web.AppRunner(server.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        port_queue.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttft-s", type=float, default=0.0)
    parser.add_argument("--tbt-s", type=float, default=0.0)
    args = parser.parse_args()
    thread = ServerThread(SseServer(Behavior(ttft_s=args.ttft_s, tbt_s=args.tbt_s))).start()
    print(thread.url, flush=True)
    threading.Event().wait()
