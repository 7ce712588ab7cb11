"""Trace workloads: replay a CSV of request arrivals with their exact token counts.

A trace is any CSV with one row per request: an arrival time, a prompt length and an
output length. The Azure LLM inference traces of 2023 (``data/traces/``, CC-BY 4.0, see
the README there) name them ``TIMESTAMP``, ``ContextTokens`` and ``GeneratedTokens``;
another trace names its own columns through ``TraceColumns`` (Hydra:
``workload.trace.columns``). Timestamps are date-times (``2023-11-16 18:15:46.68``) or
numbers of seconds (``timestamp_unit: s`` or ``ms``).

What a replay sends (``load_trace``):

* the rows whose arrival falls in ``[start_s, start_s + duration_s)`` seconds after the
  trace's first row (``duration_s`` None: to the end);
* at offsets ``(t - window start) / time_scale``: ``time_scale`` 6 plays one hour in ten
  minutes (every rate x6, the shape of the traffic kept);
* ``rate_scale`` thins (< 1) or repeats (> 1) rows, seeded, without moving any of them:
  row i is sent ``floor(rate_scale)`` times, once more with probability of the fraction;
* lengths beyond the model's context (``max_context_tokens``) are clipped: the output to
  at most the context less one prompt token, then the prompt to what is left. The count
  clipped is part of the result (``Trace.n_clipped``) and every request says whether it
  was (``clipped``), so status, table and figure can say so.

Bad input fails before anything runs, with a one-line ``ConfigError``: a missing file or
column, an unparsable timestamp, a negative or non-integer length, rows out of time
order, an empty window, a non-positive scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from greenllm.errors import ConfigError

AZURE_COLUMNS = {"timestamp": "TIMESTAMP", "input_tokens": "ContextTokens",
                 "output_tokens": "GeneratedTokens"}
TIMESTAMP_UNITS = ("datetime", "s", "ms")


@dataclass(frozen=True)
class TraceColumns:
    """Which CSV column holds what (defaults: the Azure 2023 traces)."""

    timestamp: str = AZURE_COLUMNS["timestamp"]
    input_tokens: str = AZURE_COLUMNS["input_tokens"]
    output_tokens: str = AZURE_COLUMNS["output_tokens"]
    timestamp_unit: str = "datetime"  # datetime | s | ms


@dataclass(frozen=True)
class TraceSpec:
    """A replay of one trace CSV: which rows, how fast, how many."""

    path: str
    columns: TraceColumns = field(default_factory=TraceColumns)
    start_s: float = 0.0  # window start, seconds after the first row
    duration_s: float | None = None  # window length in trace seconds; None: to the end
    time_scale: float = 1.0  # trace seconds per replay second (6: an hour in 10 minutes)
    rate_scale: float = 1.0  # thin (<1) or repeat (>1) rows, seeded
    seed: int = 0
    max_context_tokens: int | None = None  # prompt + output; None: no clipping
    name: str | None = None  # id in results; default: the file's stem


@dataclass
class Trace:
    """The requests a replay sends, in send order (all arrays of equal length)."""

    name: str
    offsets_s: np.ndarray  # replay seconds from the first send (first = 0)
    input_tokens: np.ndarray  # what is sent (after clipping)
    output_tokens: np.ndarray
    row: np.ndarray  # 0-based data row of the CSV each request comes from
    trace_time_s: np.ndarray  # its arrival in trace seconds after the trace's first row
    trace_input_tokens: np.ndarray  # as in the trace, before clipping
    trace_output_tokens: np.ndarray
    clipped: np.ndarray  # bool: lengths clipped to the context
    spec: TraceSpec
    rows_in_file: int = 0
    rows_in_window: int = 0

    @property
    def n(self) -> int:
        return int(len(self.offsets_s))

    @property
    def n_clipped(self) -> int:
        return int(np.count_nonzero(self.clipped))

    @property
    def replay_duration_s(self) -> float:
        return float(self.offsets_s[-1]) if self.n else 0.0

    def summary(self) -> dict[str, object]:
        """The trace block of a result (docs/results-format.md)."""
        s = self.spec
        return {
            "name": self.name, "path": str(s.path), "start_s": s.start_s,
            "duration_s": s.duration_s, "time_scale": s.time_scale,
            "rate_scale": s.rate_scale, "seed": s.seed,
            "max_context_tokens": s.max_context_tokens,
            "rows_in_file": self.rows_in_file, "rows_in_window": self.rows_in_window,
            "n_requests": self.n, "n_clipped": self.n_clipped,
            "replay_duration_s": self.replay_duration_s,
            "mean_rate_rps": (self.n - 1) / self.replay_duration_s
            if self.replay_duration_s > 0 else None,
            "input_tokens_mean": float(self.input_tokens.mean()) if self.n else None,
            "output_tokens_mean": float(self.output_tokens.mean()) if self.n else None,
        }

    def frame_fields(self) -> pd.DataFrame:
        """Per-request trace fields, one row per request in send order."""
        return pd.DataFrame({
            "trace_row": self.row.astype("int64"),
            "trace_time_s": self.trace_time_s.astype(float),
            "trace_input_tokens": self.trace_input_tokens.astype("int64"),
            "trace_output_tokens": self.trace_output_tokens.astype("int64"),
            "trace_clipped": self.clipped.astype(bool),
        })


def read_trace_csv(path: str | Path, columns: TraceColumns = TraceColumns()) -> pd.DataFrame:
    """The CSV as (time_s, input_tokens, output_tokens), validated; time_s from row 0."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"trace {p}: no such file")
    if columns.timestamp_unit not in TIMESTAMP_UNITS:
        raise ConfigError(f"trace timestamp_unit must be one of {', '.join(TIMESTAMP_UNITS)}, "
                          f"got {columns.timestamp_unit!r}")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"trace {p}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    wanted = [columns.timestamp, columns.input_tokens, columns.output_tokens]
    missing = [c for c in wanted if c not in raw.columns]
    if missing:
        raise ConfigError(f"trace {p}: missing column(s) {', '.join(missing)} (has "
                          f"{', '.join(map(str, raw.columns)) or 'none'}); map them with "
                          "workload.trace.columns")
    if raw.empty:
        raise ConfigError(f"trace {p}: no rows")
    times = _parse_times(p, raw[columns.timestamp], columns.timestamp_unit)
    lengths = {k: _parse_lengths(p, raw[c], c) for k, c in
               (("input_tokens", columns.input_tokens), ("output_tokens", columns.output_tokens))}
    back = np.flatnonzero(np.diff(times) < 0)
    if len(back):
        i = int(back[0]) + 1
        raise ConfigError(f"trace {p}: rows out of time order at data row {i + 1} "
                          f"({raw[columns.timestamp].iloc[i]!s} before "
                          f"{raw[columns.timestamp].iloc[i - 1]!s}); sort it by "
                          f"{columns.timestamp}")
    return pd.DataFrame({"time_s": times - times[0], **lengths})


def _parse_times(p: Path, col: pd.Series, unit: str) -> np.ndarray:
    if unit == "datetime":
        parsed = pd.to_datetime(col.str.strip(), errors="coerce", format="mixed")
        bad = parsed.isna()
        values = (parsed - parsed.min()).dt.total_seconds().to_numpy(dtype=float) \
            if not bad.any() else None
    else:
        num = pd.to_numeric(col.str.strip(), errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        values = num.to_numpy(dtype=float) * (1e-3 if unit == "ms" else 1.0)
    if bad.any() or values is None:
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ConfigError(f"trace {p}: unparsable timestamp {col.iloc[i]!r} at data row {i + 1} "
                          f"(timestamp_unit={unit})")
    return values


def _parse_lengths(p: Path, col: pd.Series, name: str) -> np.ndarray:
    num = pd.to_numeric(col.str.strip(), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(num) | (num != np.round(num))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"trace {p}: {name} {col.iloc[i]!r} at data row {i + 1} is not a "
                          "whole number of tokens")
    if (num < 0).any():
        i = int(np.flatnonzero(num < 0)[0])
        raise ConfigError(f"trace {p}: negative {name} {col.iloc[i]} at data row {i + 1}")
    return num.astype(np.int64)


def check_spec(spec: TraceSpec) -> None:
    for name in ("time_scale", "rate_scale"):
        v = getattr(spec, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise ConfigError(f"trace {name} must be a positive number, got {v!r}")
    if not (math.isfinite(spec.start_s) and spec.start_s >= 0):
        raise ConfigError(f"trace start_s must be >= 0, got {spec.start_s!r}")
    if spec.duration_s is not None and not (math.isfinite(spec.duration_s) and spec.duration_s > 0):
        raise ConfigError(f"trace duration_s must be positive (or null: to the end), "
                          f"got {spec.duration_s!r}")
    if spec.max_context_tokens is not None and spec.max_context_tokens < 2:
        raise ConfigError(f"trace max_context_tokens must be >= 2, got {spec.max_context_tokens!r}")


def load_trace(spec: TraceSpec) -> Trace:
    """The requests of ``spec``'s window, scaled and clipped (see the module doc)."""
    check_spec(spec)
    table = read_trace_csv(spec.path, spec.columns)
    end = math.inf if spec.duration_s is None else spec.start_s + spec.duration_s
    t = table["time_s"].to_numpy()
    in_window = np.flatnonzero((t >= spec.start_s) & (t < end))
    if len(in_window) == 0:
        span = f"{spec.start_s:g}-{end:g} s" if math.isfinite(end) else f"from {spec.start_s:g} s"
        raise ConfigError(f"trace {spec.path}: no request in the time window {span} (the trace "
                          f"spans 0-{t[-1]:.0f} s)")
    rows = _scale_rows(in_window, spec.rate_scale, spec.seed)
    if len(rows) == 0:
        raise ConfigError(f"trace {spec.path}: rate_scale={spec.rate_scale:g} left no request "
                          "in the window")
    times = t[rows]
    inp = table["input_tokens"].to_numpy()[rows]
    out = table["output_tokens"].to_numpy()[rows]
    sent_in, sent_out, clipped = clip_lengths(inp, out, spec.max_context_tokens)
    # A request of 0 tokens cannot be sent (a prompt needs a token, a completion too).
    sent_in = np.maximum(sent_in, 1)
    sent_out = np.maximum(sent_out, 1)
    return Trace(
        name=spec.name or Path(spec.path).stem, offsets_s=(times - times[0]) / spec.time_scale,
        input_tokens=sent_in, output_tokens=sent_out, row=rows, trace_time_s=times,
        trace_input_tokens=inp, trace_output_tokens=out, clipped=clipped, spec=spec,
        rows_in_file=len(table), rows_in_window=len(in_window))


def _scale_rows(rows: np.ndarray, rate_scale: float, seed: int) -> np.ndarray:
    if rate_scale == 1.0:
        return rows
    rng = np.random.default_rng(seed)
    whole = int(math.floor(rate_scale))
    copies = whole + (rng.random(len(rows)) < rate_scale - whole)
    return np.repeat(rows, copies)


def clip_lengths(inp: np.ndarray, out: np.ndarray,
                 max_context: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prompt, output, clipped) fitting ``max_context`` tokens in all: the output keeps
    at most ``max_context - 1`` (a prompt needs one token), the prompt gets the rest."""
    inp = np.asarray(inp, dtype=np.int64)
    out = np.asarray(out, dtype=np.int64)
    if max_context is None:
        return inp.copy(), out.copy(), np.zeros(len(inp), dtype=bool)
    new_out = np.minimum(out, max_context - 1)
    new_in = np.minimum(inp, max_context - np.maximum(new_out, 1))
    return new_in, new_out, (new_in != inp) | (new_out != out)
