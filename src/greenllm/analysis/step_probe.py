"""What one engine step costs when a prefill joins a decode batch, from token arrivals.

A few background requests decode steadily, so each of them receives one token per engine
step and their inter-token gaps are the step times. Short requests injected now and then
(a ``P``-token prompt, one output token) are admitted and prefilled beside them; the
background token delivered with the injected request's first token marks the prefill.

The primary number, ``excess_ms``, is what the admission and prefill cost the background
in all: the gaps from three before that token to one after it, summed, minus as many
undisturbed gaps from around it. A window rather than one gap because on vLLM 0.26 the
delay does not sit in the gap that ends with the first token: on the H100 (1.1B and 13B,
async output processing) the gap *before* it is the long one and the next is short, so a
one-gap reading even comes out negative. The single gaps are reported too: ``before_ms``
(ending one token earlier), ``mixed_ms`` (ending with the first token), ``next_ms``, and
``arrival_ms`` (the gap during which the injected request was sent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from greenllm.errors import GreenllmError

WINDOW = (-3, 1)  # gaps ending 3 tokens before to 1 after the one with the first token


@dataclass(frozen=True)
class StepCost:
    injections: int  # injected requests whose prefill was found in every stream
    # Medians over those injections, each a median over the background streams:
    base_ms: float  # the undisturbed decode step at the prefill (a line fitted around it)
    excess_ms: float  # WINDOW gaps around the prefill, summed, minus the line under them
    before_ms: float  # the gap ending one token before the injected first token
    mixed_ms: float  # the gap ending with it
    next_ms: float  # the gap after it
    arrival_ms: float  # the gap during which the injected request was sent

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _gap_ending_near(times: np.ndarray, t: float, tolerance_s: float) -> int | None:
    """Index ``j`` (>= 1) of the arrival nearest ``t`` if within ``tolerance_s``."""
    j = int(np.searchsorted(times, t))
    best = None
    for k in (j - 1, j):
        if 1 <= k < len(times) and abs(times[k] - t) <= tolerance_s and (
                best is None or abs(times[k] - t) < abs(times[best] - t)):
            best = k
    return best


def step_cost(background: Sequence[Sequence[float]], injected_first_s: Sequence[float],
              injected_send_s: Sequence[float], *, tolerance_s: float = 0.003,
              guard_s: float = 0.05, local_s: float = 0.15) -> StepCost:
    """``background``: each background request's token arrival times (s, one clock);
    ``injected_first_s``/``injected_send_s``: each injected request's first token and
    send time (nan for one that failed). The window around each prefill is compared with
    the undisturbed gaps near it: ending within ``local_s`` of it but farther than
    ``guard_s`` from every injected request's send and first token, fitted by a line in
    time (a decode step lengthens as contexts grow: a run-wide median would not be the
    same batch)."""
    streams = [np.sort(np.asarray(t, dtype=float)) for t in background if len(t) > 2]
    if not streams:
        raise GreenllmError("no background stream with tokens: nothing to time steps by")
    events = np.sort(np.asarray([t for t in (*injected_first_s, *injected_send_s)
                                 if math.isfinite(t)], dtype=float))
    quiet = []  # (gap end times, gaps) of each stream, far from every injection
    for times in streams:
        ends, gaps = times[1:], np.diff(times)
        if len(events):
            k = np.searchsorted(events, ends)
            near_next = np.abs(events[np.minimum(k, len(events) - 1)] - ends)
            near_prev = np.abs(events[np.maximum(k - 1, 0)] - ends)
            keep = np.minimum(near_next, near_prev) > guard_s
            ends, gaps = ends[keep], gaps[keep]
        quiet.append((ends, gaps))
    base, excess, before, mixed, after, arrival = [], [], [], [], [], []
    lo, hi = WINDOW
    for first, send in zip(injected_first_s, injected_send_s, strict=True):
        if not (math.isfinite(first) and math.isfinite(send)):
            continue
        at = [_gap_ending_near(times, first, tolerance_s) for times in streams]
        if any(j is None or j + lo < 1 or j + hi >= len(times)
               for times, j in zip(streams, at, strict=True)):
            continue  # a background stream had ended, or this step is not identifiable
        near = [(e[np.abs(e - first) <= local_s], g[np.abs(e - first) <= local_s])
                for e, g in quiet]
        t_near = np.concatenate([e for e, _ in near]) - first
        g_near = np.concatenate([g for _, g in near])
        if len(g_near) < 3 or np.ptp(t_near) <= 0:
            continue
        # The undisturbed step as a line in time around the prefill: decode steps lengthen
        # as contexts grow, and the quiet gaps are not symmetric about it.
        slope, level = np.polyfit(t_near, g_near, 1)
        base.append(float(level))

        # per offset k: the median over streams of the gap ending k tokens after the one
        # delivered with the first token, and of that gap's end time
        gap_at = {k: float(np.median([t[j + k] - t[j + k - 1] for t, j in zip(streams, at,
                                                                          strict=True)]))
                for k in range(min(lo, -1), max(hi, 1) + 1)}
        end_at = {k: float(np.median([t[j + k] for t, j in zip(streams, at, strict=True)]))
                for k in gap_at}
        excess.append(sum(gap_at[k] - (level + slope * (end_at[k] - first))
                          for k in range(lo, hi + 1)))
        before.append(gap_at[-1])
        mixed.append(gap_at[0])
        after.append(gap_at[1])
        during = []
        for times in streams:
            k = int(np.searchsorted(times, send))
            if 1 <= k < len(times):
                during.append(times[k] - times[k - 1])
        if len(during) == len(streams):
            arrival.append(float(np.median(during)))
    if not mixed:
        raise GreenllmError("no injected request's first token coincided with a background "
                            "token amid undisturbed gaps: are the background requests still "
                            "decoding, and the injections far enough apart?")

    def med_ms(x: list[float]) -> float:
        return float(np.median(x)) * 1e3 if x else math.nan

    return StepCost(injections=len(mixed), base_ms=med_ms(base), excess_ms=med_ms(excess),
                    before_ms=med_ms(before), mixed_ms=med_ms(mixed), next_ms=med_ms(after),
                    arrival_ms=med_ms(arrival))
