"""What the load client records per request, and its table form (one row a request).

Kept apart from the client so that analysis code (metrics, aggregation, the trace
replay's per-request fields) can read request tables without importing aiohttp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd


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
