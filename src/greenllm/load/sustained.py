"""The highest request rate an engine sustains: what "NN % of capacity" should be a share of.

A burst's throughput (every request sent at once) overstates it. On the H200 (issue 13),
70 % of a burst's throughput of the 1.1B engine was 76 req/s, and at that rate the queue
grew for the whole run (TTFT medians of 0.2-3 s), while the engine kept up with 45 req/s.
So a rate counts as *sustained* only when a run at that rate shows no growing queue:
every request succeeded, and the TTFT median of the last quarter of the requests (in
send order) is at most ``growth`` x the first quarter's plus ``slack_s``. A queue that
builds up shows as a TTFT that climbs through the run; an engine that keeps up has the
same TTFT at the end as at the start.

``sustained_capacity`` walks a ladder of fractions of the burst throughput downward and
returns the first rate that is sustained, with every probe's check, so a caller can show
how it got there (or that nothing on the ladder was sustained: ``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

LADDER = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4)


@dataclass(frozen=True)
class SustainCheck:
    rate_rps: float
    n_requests: int
    n_failed: int
    ttft_first_s: float  # TTFT median of the first quarter of the requests, in send order
    ttft_last_s: float  # ... and of the last quarter
    sustained: bool
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def check_sustained(frame: pd.DataFrame, rate_rps: float, *, growth: float = 2.0,
                    slack_s: float = 0.05) -> SustainCheck:
    """Whether the run in ``frame`` (``records_to_frame``) kept up with ``rate_rps``."""
    ok_mask = frame["ok"].astype(bool)
    failed = int((~ok_mask).sum())
    ok = frame[ok_mask].sort_values("send_s")
    first = last = float("nan")
    if len(ok) < 8:
        sustained, reason = False, f"{len(ok)} requests succeeded: too few to see a queue"
    else:
        ttft = (ok["first_token_s"] - ok["send_s"]).to_numpy(dtype=float)
        quarter = len(ttft) // 4
        first = float(pd.Series(ttft[:quarter]).median())
        last = float(pd.Series(ttft[-quarter:]).median())
        limit = growth * first + slack_s
        if failed:
            sustained, reason = False, f"{failed} requests failed"
        elif last > limit:
            sustained, reason = False, (
                f"queue grows: TTFT median {1e3 * first:.1f} ms in the first quarter, "
                f"{1e3 * last:.1f} ms in the last (> {1e3 * limit:.1f})")
        else:
            sustained, reason = True, (
                f"kept up: TTFT median {1e3 * first:.1f} -> {1e3 * last:.1f} ms")
    return SustainCheck(float(rate_rps), len(frame), failed, first, last, sustained, reason)


def sustained_capacity(run_at: Callable[[float], pd.DataFrame], burst_rps: float,
                       ladder: Sequence[float] = LADDER,
                       on_check: Callable[[pd.DataFrame, SustainCheck], None] | None = None,
                       **check_kw: float) -> tuple[float | None, list[SustainCheck]]:
    """The first rate of ``ladder`` x ``burst_rps`` (highest first) that ``run_at`` sustains;
    ``on_check`` sees each run with its check as it ends (to save or print it)."""
    checks: list[SustainCheck] = []
    for rate in ladder_rates(burst_rps, ladder):
        frame = run_at(rate)
        check = check_sustained(frame, rate, **check_kw)
        if on_check is not None:
            on_check(frame, check)
        checks.append(check)
        if check.sustained:
            return rate, checks
    return None, checks


def ladder_rates(burst_rps: float, ladder: Sequence[float] = LADDER) -> list[float]:
    """The rates a sustain ladder probes: ``ladder`` x ``burst_rps``, highest first, in
    req/s to 0.01 (what the probes and the saved runs carry)."""
    if not burst_rps > 0:
        raise ValueError(f"burst throughput must be > 0 req/s, got {burst_rps}")
    return [round(float(fraction * burst_rps), 2) for fraction in sorted(ladder, reverse=True)]
