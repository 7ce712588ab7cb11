"""The load a plan is for: time windows of per-workload request rates.

From a trace (``greenllm.load.trace``): each request is priced as the *cheapest measured
workload that covers it* (input and output both at least its lengths); a request between
buckets is therefore priced at the next larger one (an upper bound) and one beyond the
largest measured workload at the largest (an underestimate): both are counted and stated
in every output, never silently extrapolated. From a rate and a mix: one window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from greenllm.errors import ConfigError
from greenllm.load.trace import Trace


@dataclass(frozen=True)
class WorkloadShape:
    id: str
    input_tokens: int
    output_tokens: int


@dataclass
class Window:
    index: int
    start_s: float  # trace seconds (replay seconds x time_scale)
    end_s: float
    duration_s: float  # wall seconds it lasts when played (end - start) / time_scale
    rates_rps: dict[str, float]  # per workload, for the node
    n_requests: int
    output_tokens: float  # output tokens sent in the window (as priced)

    @property
    def rate_rps(self) -> float:
        return float(sum(self.rates_rps.values()))


@dataclass
class GridFit:
    """How the trace's requests fit the measured workloads."""

    n_requests: int = 0
    on_grid: int = 0
    between_buckets: int = 0  # priced at the next larger measured workload
    beyond_grid: int = 0  # longer than every measured workload: priced at the largest
    clipped: int = 0  # clipped to the model's context by the trace reader
    per_workload: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        n = max(self.n_requests, 1)
        out = [f"{self.on_grid} of {self.n_requests} requests ({100 * self.on_grid / n:.1f} %) "
               "have exactly a measured workload's lengths"]
        if self.between_buckets:
            out.append(f"{self.between_buckets} ({100 * self.between_buckets / n:.1f} %) fall "
                       "between measured buckets: priced at the next larger measured workload "
                       "(an upper bound on their energy and latency)")
        if self.beyond_grid:
            out.append(f"{self.beyond_grid} ({100 * self.beyond_grid / n:.1f} %) are longer "
                       "than every measured workload: priced at the largest one, which "
                       "UNDERESTIMATES them (not extrapolated; measure longer buckets to cover them)")
        if self.clipped:
            out.append(f"{self.clipped} were clipped to the model's context by the trace reader")
        return out


def assign_workloads(inp: np.ndarray, out: np.ndarray, shapes: list[WorkloadShape]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index into ``shapes``, exact match, beyond every shape) per request."""
    if not shapes:
        raise ConfigError("no measured workload to price the load with")
    order = sorted(range(len(shapes)), key=lambda i: (shapes[i].input_tokens *
                                                      shapes[i].output_tokens,
                                                      shapes[i].input_tokens))
    w_in = np.array([shapes[i].input_tokens for i in order])
    w_out = np.array([shapes[i].output_tokens for i in order])
    covers = (w_in[None, :] >= inp[:, None]) & (w_out[None, :] >= out[:, None])
    any_cover = covers.any(axis=1)
    first = np.argmax(covers, axis=1)
    largest = int(np.lexsort((w_out, w_in))[-1])
    pick = np.where(any_cover, first, largest)
    exact = (w_in[pick] == inp) & (w_out[pick] == out)
    return np.asarray(order)[pick], exact, ~any_cover


def trace_windows(trace: Trace, shapes: list[WorkloadShape], window_s: float
                  ) -> tuple[list[Window], GridFit]:
    """Windows of ``window_s`` trace seconds over the trace's requests."""
    if not (math.isfinite(window_s) and window_s > 0):
        raise ConfigError(f"window must be a positive number of seconds, got {window_s!r}")
    idx, exact, beyond = assign_workloads(trace.input_tokens, trace.output_tokens, shapes)
    fit = GridFit(n_requests=trace.n, on_grid=int(exact.sum()),
                  between_buckets=int((~exact & ~beyond).sum()), beyond_grid=int(beyond.sum()),
                  clipped=trace.n_clipped)
    for i, s in enumerate(shapes):
        fit.per_workload[s.id] = int((idx == i).sum())
    t = trace.trace_time_s
    t0 = float(trace.spec.start_s)
    t_end = t0 + trace.spec.duration_s if trace.spec.duration_s else float(t[-1]) + 1e-9
    scale = float(trace.spec.time_scale)
    windows = []
    n = max(1, math.ceil((t_end - t0) / window_s - 1e-9))
    for k in range(n):
        a, b = t0 + k * window_s, min(t0 + (k + 1) * window_s, t_end)
        sel = (t >= a) & (t < b)
        dur = (b - a) / scale
        rates = {s.id: float(((idx == i) & sel).sum()) / dur for i, s in enumerate(shapes)}
        tokens = float(sum(shapes[i].output_tokens for i in idx[sel]))
        windows.append(Window(k, a, b, dur, {w: r for w, r in rates.items() if r > 0},
                              int(sel.sum()), tokens))
    return windows, fit


def mix_window(rate_rps: float, mix: dict[str, float], shapes: list[WorkloadShape],
               duration_s: float = 3600.0) -> Window:
    """One window of ``rate_rps`` req/s split by ``mix`` (fractions, normalised)."""
    if not (math.isfinite(rate_rps) and rate_rps > 0):
        raise ConfigError(f"rate must be a positive number of req/s, got {rate_rps!r}")
    known = {s.id: s for s in shapes}
    unknown = [w for w in mix if w not in known]
    if unknown:
        raise ConfigError(f"the mix names workload(s) {', '.join(unknown)} that the table lacks "
                          f"(it has {', '.join(sorted(known))})")
    total = sum(mix.values())
    if not total > 0 or any(v < 0 for v in mix.values()):
        raise ConfigError("mix fractions must be non-negative with a positive sum")
    rates = {w: rate_rps * f / total for w, f in mix.items() if f > 0}
    tokens = sum(r * duration_s * known[w].output_tokens for w, r in rates.items())
    return Window(0, 0.0, duration_s, duration_s, rates, int(rate_rps * duration_s), tokens)


def parse_mix(text: str) -> dict[str, float]:
    """``"S-S:0.5,M-M:0.5"`` -> {"S-S": 0.5, "M-M": 0.5}."""
    out = {}
    for part in text.split(","):
        name, _, frac = part.partition(":")
        try:
            out[name.strip()] = float(frac) if frac else 1.0
        except ValueError:
            raise ConfigError(f"mix entry {part!r}: use WORKLOAD:FRACTION, e.g. M-M:0.5") from None
    return out
