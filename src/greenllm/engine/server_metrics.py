"""Counters from a serving engine's Prometheus ``/metrics`` endpoint.

vLLM counts the tokens it generates in ``vllm:generation_tokens_total`` (one series per
engine and model; summed here). Read at two instants, the difference is the engine's own
count of the work done in between — independent of how fast a client reads the streams,
which is what a throughput comparison between phases of a run needs. greenllm's
simulated server exposes the same counter.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from greenllm.errors import EngineError
from greenllm.prometheus_text import parse_counters

GENERATION_TOKENS = "vllm:generation_tokens_total"


def metrics_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    for suffix in ("/v1/completions", "/v1"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base + "/metrics"


def read_counter(base_url: str, name: str = GENERATION_TOKENS, timeout_s: float = 5.0) -> float:
    """The counter's current value; a clear error if the server has no such counter."""
    url = metrics_url(base_url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            text = resp.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise EngineError(f"cannot read {url}: {exc}") from None
    values = parse_counters(text, [name])
    if name not in values:
        raise EngineError(f"{url} has no {name} counter")
    return values[name]
