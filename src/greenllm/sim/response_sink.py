"""Where the simulated engine's tokens go: one HTTP request's response sink, and the
emission of each generated token into it (buffered, or straight to the socket)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from greenllm.sim.protocol import ChunkTemplates, generated_token_id
from greenllm.sim.scheduler import SimRequest


class ResponseSink:
    """Where one HTTP request's tokens go (all its prompts).

    Streaming responses start in *buffered* mode: chunks collect in ``buf`` and the HTTP
    handler writes them through aiohttp (which sends the headers with the first one).
    The handler then switches the sink to *direct* mode by setting ``transport``: from
    then on the engine writes each chunk straight to the socket, framed for chunked
    transfer encoding, with no task switch per token (the per-token cost that matters
    when one 2-core machine runs 64 streams and the client). Non-streaming responses
    collect token ids.
    """

    __slots__ = (
        "aborted",
        "buf",
        "chunked",
        "disconnected",
        "remaining",
        "requests",
        "stream",
        "templates",
        "token_ids",
        "transport",
        "waiter",
    )

    def __init__(self, templates: ChunkTemplates, n_choices: int, stream: bool):
        self.buf: list[bytes] = []
        self.waiter: asyncio.Future[None] | None = None
        self.remaining = n_choices  # choices not yet finished
        self.templates = templates
        self.stream = stream
        self.token_ids: list[list[int]] = [[] for _ in range(n_choices)]
        self.requests: list[SimRequest] = []
        self.aborted = False  # the engine dropped it: no more tokens come
        self.disconnected = False  # a direct write found the connection closed
        self.transport: asyncio.WriteTransport | None = None  # set: direct mode
        self.chunked = True

    def _wake(self) -> None:
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    @property
    def done(self) -> bool:
        return not self.remaining or self.aborted or self.disconnected

    async def wait(self) -> None:
        """Wait until there is something to write (buffered mode) or the sink is done."""
        if self.buf or self.done:
            return
        self.waiter = asyncio.get_running_loop().create_future()
        await self.waiter


@dataclass(eq=False)
class ResponseChoice:
    """``SimRequest.tag``: where one sequence's tokens go."""

    sink: ResponseSink
    index: int
    head: bytes
    seed: int


def emit_token(req: SimRequest, vocab_size: int) -> None:
    """Deliver the token ``req`` just generated (``req.generated`` already counts it)."""
    choice: ResponseChoice = req.tag
    sink = choice.sink
    token_id = generated_token_id(choice.seed, req.generated, vocab_size)
    last = req.generated >= req.max_tokens
    if last:
        sink.remaining -= 1
    if not sink.stream:
        sink.token_ids[choice.index].append(token_id)
        if last and not sink.remaining:
            sink._wake()
        return
    tmpl = sink.templates
    data = choice.head + b"t%d " % token_id + (tmpl.last_tail if last else tmpl.tail)
    transport = sink.transport
    if transport is None:
        sink.buf.append(data)
        sink._wake()
        return
    if transport.is_closing():
        sink.disconnected = True
        sink._wake()
        return
    transport.write(b"%x\r\n%b\r\n" % (len(data), data) if sink.chunked else data)
    if not sink.remaining:
        sink._wake()
