"""Engine kinds by name: the one place that maps ``engine.kind`` to an implementation."""

from __future__ import annotations

from greenllm.engine.base import EngineKind
from greenllm.errors import ConfigError

KINDS = ("vllm", "sim", "virtual")


def engine_kind(name: str) -> EngineKind:
    """The kind called ``name``; a one-line ConfigError for any other name."""
    if name in ("vllm", "sim"):
        from greenllm.engine.live import LiveKind

        return LiveKind(name)
    if name == "virtual":
        from greenllm.engine.virtual import VirtualKind

        return VirtualKind()
    raise ConfigError(f"unknown engine kind {name!r}: choose one of {', '.join(KINDS)}")
