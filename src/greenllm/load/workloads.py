"""Workload shapes: how many tokens a request sends and how many it generates.

The paper (§IV-A) buckets input lengths S/M/L = 100/500/1024 tokens and output lengths
S/M/L = 50/128/256 tokens; the nine combinations are named ``<in>-<out>`` (``"M-L"`` is a
500-token prompt that generates 256 tokens). Custom workloads keep their own id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenllm.errors import ConfigError

INPUT_BUCKETS_TOKENS: dict[str, int] = {"S": 100, "M": 500, "L": 1024}
OUTPUT_BUCKETS_TOKENS: dict[str, int] = {"S": 50, "M": 128, "L": 256}


@dataclass(frozen=True)
class Workload:
    """One request shape: exactly ``input_tokens`` in, exactly ``output_tokens`` out."""

    id: str
    input_tokens: int
    output_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens}


PAPER_WORKLOADS: tuple[Workload, ...] = tuple(
    Workload(f"{i}-{o}", INPUT_BUCKETS_TOKENS[i], OUTPUT_BUCKETS_TOKENS[o])
    for i in INPUT_BUCKETS_TOKENS
    for o in OUTPUT_BUCKETS_TOKENS
)
_BY_ID = {w.id: w for w in PAPER_WORKLOADS}


def parse_workload(workload_id: str) -> Workload:
    """The paper workload named ``workload_id`` (e.g. ``"M-L"``); ConfigError if unknown."""
    key = str(workload_id).strip().upper()
    if key not in _BY_ID:
        raise ConfigError(
            f"unknown workload {workload_id!r}: use one of {', '.join(_BY_ID)} "
            "or a mapping {id, input_tokens, output_tokens}"
        )
    return _BY_ID[key]


def workload_from(spec: str | Mapping[str, Any] | Workload) -> Workload:
    """A workload from a paper id (``"S-M"``) or a mapping for a custom one.

    A mapping needs ``id``, ``input_tokens`` and ``output_tokens`` (positive integers); a
    mapping that reuses a paper id must have that id's lengths, so an id always means
    one shape in results.
    """
    if isinstance(spec, Workload):
        return spec
    if isinstance(spec, str):
        return parse_workload(spec)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"workload must be an id like 'M-M' or a mapping, got {spec!r}")
    missing = [k for k in ("id", "input_tokens", "output_tokens") if k not in spec]
    if missing:
        raise ConfigError(f"workload {dict(spec)!r} lacks {', '.join(missing)}")
    wid = str(spec["id"]).strip()
    if not wid or any(c in wid for c in "/\\ \t\n"):
        raise ConfigError(f"workload id {spec['id']!r} must be non-empty, without '/' or spaces")
    lengths = {}
    for key in ("input_tokens", "output_tokens"):
        value = spec[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"workload {wid!r}: {key} must be a positive integer, got {value!r}")
        lengths[key] = value
    workload = Workload(wid, lengths["input_tokens"], lengths["output_tokens"])
    paper = _BY_ID.get(wid.upper())
    if paper is not None and (paper.input_tokens, paper.output_tokens) != (
        workload.input_tokens, workload.output_tokens
    ):
        raise ConfigError(
            f"workload id {wid!r} is a paper workload ({paper.input_tokens}->"
            f"{paper.output_tokens} tokens); give the custom shape another id"
        )
    return paper if paper is not None else workload
