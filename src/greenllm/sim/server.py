"""A simulated OpenAI-compatible inference server (``python -m greenllm.sim.server``).

Speaks enough of vLLM's HTTP API for greenllm's client and ``vllm bench serve``:
``GET /health``, ``GET /v1/models``, ``GET /version``, ``POST /v1/completions`` (streaming
SSE exactly like vLLM, with ``stream_options.include_usage``). Token timing comes from
``greenllm.sim.engine`` (performance model at the SimGpu's live clock) or, with
``--fixed-latency-ttft-s/--fixed-latency-tbt-s``, from fixed constants.

Everything it serves is labelled: header ``x-greenllm-simulated: 1`` on every response
and ``/version`` says ``"simulated": true``. Arguments mirror ``vllm serve`` names.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from greenllm.errors import GreenllmError
from greenllm.sim.server_config import (
    READY_MARKER,
    SIMULATED_HEADER,
    ServerConfig,
    build_parser,
    config_from_args,
    open_gpu,
)

__all__ = ["READY_MARKER", "SIMULATED_HEADER", "ServerConfig", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    gpu = None
    try:
        cfg = config_from_args(args)
        gpu = open_gpu(cfg)
        from greenllm.sim.app import serve  # aiohttp and the engine: only once args are valid

        return asyncio.run(serve(cfg, gpu))
    except GreenllmError as err:
        print(f"greenllm-sim: error: {err}", file=sys.stderr, flush=True)
        return 2
    finally:
        if gpu is not None:
            try:
                for i in cfg.gpu_indices:
                    gpu.set_load(i, 0.0, 0.0)
            finally:
                gpu.close()


if __name__ == "__main__":
    sys.exit(main())
