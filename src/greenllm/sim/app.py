"""The simulator's aiohttp application and its run loop (started by ``greenllm.sim.server``).

Kept apart from the command line so that bad arguments fail in a fraction of a second,
before aiohttp and the engine are imported.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

from aiohttp import web

from greenllm import __version__
from greenllm.errors import GreenllmError
from greenllm.sim.engine import BaseEngine, FixedLatencyEngine, ModelEngine, ResponseSink, log
from greenllm.sim.hardware import GpuPerfSpec
from greenllm.sim.perf_model import PerfModel
from greenllm.sim.protocol import DONE, BadRequest, parse_completion
from greenllm.sim.scheduler import Scheduler
from greenllm.sim.server_config import READY_MARKER, SIMULATED_HEADER, ServerConfig

_STATS_INTERVAL_S = 10.0


def build_engine(cfg: ServerConfig, gpu: Any) -> BaseEngine:
    if cfg.fixed_ttft_s is not None:
        return FixedLatencyEngine(cfg.shape.vocab_size, cfg.fixed_ttft_s, cfg.fixed_tbt_s or 0.0)
    # The simulated GPU's profile (h100-sxm, h200) picks the performance spec.
    profile = getattr(getattr(gpu, "spec", None), "profile", "h100-sxm")
    perf = PerfModel(cfg.shape, GpuPerfSpec.for_profile(profile), cfg.tp, cfg.calibration,
                     max_num_seqs=cfg.max_num_seqs)
    sched = Scheduler(cfg.max_num_seqs, cfg.max_num_batched_tokens)
    return ModelEngine(perf, sched, gpu, cfg.gpu_indices)


class SimServer:
    def __init__(self, cfg: ServerConfig, engine: BaseEngine):
        self.cfg = cfg
        self.engine = engine
        self.started = int(time.time())
        self.active: set[ResponseSink] = set()
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.on_response_prepare.append(self._label)
        self.app.router.add_get("/health", self.health)
        self.app.router.add_get("/version", self.version)
        self.app.router.add_get("/v1/models", self.models)
        self.app.router.add_get("/metrics", self.metrics)
        self.app.router.add_post("/v1/completions", self.completions)

    def abort_all(self) -> None:
        """End every open response now (shutdown): handlers return instead of waiting."""
        for sink in list(self.active):
            self.engine.abort(sink)

    @staticmethod
    async def _label(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[SIMULATED_HEADER] = "1"

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def metrics(self, request: web.Request) -> web.Response:
        """vLLM's counters under vLLM's names (Prometheus text), for clients that count
        the engine's work from the server side (greenllm.engine.server_metrics)."""
        st = self.engine.stats
        model = self.cfg.served_model_name.replace("\\", "\\\\").replace('"', '\\"')
        lines = [
            "# TYPE vllm:generation_tokens_total counter",
            f'vllm:generation_tokens_total{{model_name="{model}"}} {st.tokens_emitted}.0',
            "# TYPE vllm:request_success_total counter",
            f'vllm:request_success_total{{model_name="{model}"}} {st.requests_finished}.0',
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": f"greenllm-sim {__version__}", "simulated": True})

    async def models(self, request: web.Request) -> web.Response:
        name = self.cfg.served_model_name
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": name,
                        "object": "model",
                        "created": self.started,
                        "owned_by": "greenllm-sim",
                        "root": str(self.cfg.model_dir),
                        "parent": None,
                        "max_model_len": self.cfg.max_model_len,
                        "permission": [],
                    }
                ],
            }
        )

    async def completions(self, request: web.Request) -> web.StreamResponse:
        t_arrival = time.monotonic()
        try:
            try:
                body = json.loads(await request.read())
            except ValueError as err:
                raise BadRequest(f"Invalid JSON body: {err}") from None
            params = parse_completion(
                body, self.cfg.served_model_name, self.cfg.max_model_len, self.cfg.shape.vocab_size
            )
        except BadRequest as err:
            return web.Response(status=err.status, body=err.body(), content_type="application/json")

        engine = self.engine
        sink = engine.new_sink(
            self.cfg.served_model_name, params.prompt_lens, params.max_tokens, params.stream
        )
        prompt_total = sum(params.prompt_lens)
        completion_total = params.max_tokens * len(params.prompt_lens)
        engine.submit(sink)
        self.active.add(sink)
        status = "ok"
        try:
            if not params.stream:
                while not sink.done:
                    await sink.wait()
                if sink.remaining:
                    status = "aborted"
                    return web.Response(status=503, text="aborted")
                texts = ["".join(f"t{t} " for t in ids) for ids in sink.token_ids]
                body_bytes = sink.templates.full_response(texts, prompt_total, completion_total)
                return web.Response(body=body_bytes, content_type="application/json")
            return await self._stream(
                request, sink, params.include_usage, prompt_total, completion_total
            )
        except ConnectionResetError:  # the client went away mid-stream
            status = "aborted"
            return web.Response(status=499)
        except asyncio.CancelledError:
            status = "aborted"
            raise
        finally:
            self.active.discard(sink)
            if sink.remaining:
                engine.abort(sink)
                status = "aborted"
            if self.cfg.log_requests:
                log(
                    f"request {sink.templates.request_id} prompt_tokens={prompt_total} "
                    f"max_tokens={params.max_tokens} stream={int(params.stream)} status={status} "
                    f"e2e_ms={(time.monotonic() - t_arrival) * 1e3:.1f}"
                )

    @staticmethod
    async def _stream(
        request: web.Request,
        sink: ResponseSink,
        include_usage: bool,
        prompt_total: int,
        completion_total: int,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        chunked = request.version >= (1, 1)
        if chunked:
            resp.enable_chunked_encoding()
        await resp.prepare(request)
        # Buffered mode until the first chunk has gone out through aiohttp (with the
        # headers); then direct mode: the engine writes to the socket itself.
        buf = sink.buf
        await sink.wait()
        while buf:  # tokens may arrive while a write awaits
            data = buf[0] if len(buf) == 1 else b"".join(buf)
            buf.clear()
            await resp.write(data)
        if not sink.done and request.transport is not None:
            sink.chunked = chunked
            sink.transport = request.transport
            while not sink.done:
                await sink.wait()
        if sink.remaining:  # disconnected or aborted: nothing more to say
            return resp
        usage = sink.templates.usage_chunk(prompt_total, completion_total) if include_usage else b""
        await resp.write(usage + DONE)
        await resp.write_eof()
        return resp


async def _stats_logger(engine: BaseEngine) -> None:
    last_tokens = 0
    while True:
        await asyncio.sleep(_STATS_INTERVAL_S)
        st = engine.stats
        if st.tokens_emitted == last_tokens:
            continue
        extra = ""
        if isinstance(engine, ModelEngine):
            extra = (
                f" running={engine.scheduler.num_running} waiting={engine.scheduler.num_waiting}"
                f" sm_clock_mhz={st.last_clock_mhz:.0f}"
            )
        log(
            f"stats: gen_tok_per_s={(st.tokens_emitted - last_tokens) / _STATS_INTERVAL_S:.1f}"
            f" iterations={st.iterations} finished={st.requests_finished}"
            f" lag_resets={st.lag_resets}{extra}"
        )
        last_tokens = st.tokens_emitted


async def serve(cfg: ServerConfig, gpu: Any) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if cfg.startup_delay_s > 0:
        # vLLM opens its port only once the engine is up; so does the simulator.
        try:
            await asyncio.wait_for(stop.wait(), cfg.startup_delay_s)
            return 0
        except TimeoutError:
            pass
    engine = build_engine(cfg, gpu)
    server = SimServer(cfg, engine)
    runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise GreenllmError(
            f"cannot listen on {cfg.host}:{cfg.port}: {err.strerror or err}"
        ) from None
    engine.start()
    stats_task = loop.create_task(_stats_logger(engine))
    mode = (
        f"fixed latency ttft_s={cfg.fixed_ttft_s} tbt_s={cfg.fixed_tbt_s}"
        if cfg.fixed_ttft_s is not None
        else f"tp={cfg.tp} max_num_seqs={cfg.max_num_seqs} "
        f"max_num_batched_tokens={cfg.max_num_batched_tokens} "
        f"gpu={'SimGpu ' + str(cfg.gpu_state) if gpu is not None else 'none (boost clock)'}"
    )
    log(
        f"{READY_MARKER} on http://{cfg.host}:{cfg.port} (SIMULATED) model={cfg.served_model_name} "
        f"max_model_len={cfg.max_model_len} {mode}"
    )
    try:
        await stop.wait()
    finally:
        log("greenllm-sim: shutting down")
        stats_task.cancel()
        await engine.stop()
        server.abort_all()
        await runner.cleanup()
    return 0
