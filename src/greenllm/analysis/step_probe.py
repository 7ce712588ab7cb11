"""What one engine step costs when a prefill joins a decode batch, from token arrivals.

A few background requests decode steadily, so each of them receives one token per engine
step and their inter-token gaps *are* the step times. Short requests injected now and
then (a ``P``-token prompt, one output token) are prefilled in one step, whose end is
the injected request's first token: the background gap that ends with that token is the
mixed step. Comparing it with the background's undisturbed gaps gives the price of
adding a prefill to the batch, as the engine runs it (for vLLM: CUDA-graph mode, the
attention kernels, the scheduler's work for a new sequence), without a profiler.

Also reported: the gap after the mixed step and the gap during which the injected request
*arrived* (the engine admits it between steps: tokenization and queuing happen in the
API server, the scheduler's work for it in the engine core).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from greenllm.errors import GreenllmError


@dataclass(frozen=True)
class StepCost:
    injections: int  # injected requests whose mixed step was found in every stream
    # Medians over those injections, each a median over the background streams:
    base_ms: float  # the undisturbed decode steps around the mixed step
    mixed_ms: float  # the mixed step (the gap ending with the injected first token)
    extra_ms: float  # mixed minus the steps around it, per injection
    next_ms: float  # the step right after the mixed one
    arrival_ms: float  # the step during which the injected request was sent

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
    send time (nan for one that failed). Each mixed step is compared with the undisturbed
    gaps around it: ending within ``local_s`` of it but farther than ``guard_s`` from every
    injected request's send and first token (a decode step lengthens as contexts grow, so
    a run-wide median would not be the same batch)."""
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
    base, mixed, extra, after, arrival = [], [], [], [], []
    for first, send in zip(injected_first_s, injected_send_s, strict=True):
        if not (math.isfinite(first) and math.isfinite(send)):
            continue
        at = [_gap_ending_near(times, first, tolerance_s) for times in streams]
        if any(j is None for j in at):
            continue  # a background stream had ended, or this step is not identifiable
        around = np.concatenate([g[np.abs(e - first) <= local_s] for e, g in quiet])
        if len(around) < 3:
            continue
        local = float(np.median(around))
        step = float(np.median([times[j] - times[j - 1]
                                for times, j in zip(streams, at, strict=True)]))
        base.append(local)
        mixed.append(step)
        extra.append(step - local)
        nxt = [times[j + 1] - times[j] for times, j in zip(streams, at, strict=True)
               if j + 1 < len(times)]
        if len(nxt) == len(streams):
            after.append(float(np.median(nxt)))
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

    return StepCost(injections=len(mixed), base_ms=med_ms(base), mixed_ms=med_ms(mixed),
                    extra_ms=med_ms(extra), next_ms=med_ms(after), arrival_ms=med_ms(arrival))
