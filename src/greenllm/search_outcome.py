"""What a max-throughput search established, as flags and one line of words.

A search that found no rate meeting the SLO measured nothing: the load points named as
fractions of its max cannot be run, and that must be visible in the cell's status, the
tables, the figures and the log, never passed off as ok. A search that ran out of its
budget (``max_probes`` or ``time_budget``) before it bracketed the limit found a lower
bound (every probe passed) or nothing (every probe failed); one that bracketed it but
stopped early has an interval wider than ``rel_tol``. Both say so here.

Everything reads the ``max_throughput`` block of ``summary.json`` (``SearchResult.to_dict``)
so that old summaries are judged by the same rules. It lives outside ``greenllm.search``
and imports nothing because ``search``, ``measure`` and ``analysis`` all read it, and
``analysis`` (files only) must not pull in the load client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NO_MAX_THROUGHPUT = "no_max_throughput"  # no probed rate met the SLO
UNBRACKETED = "unbracketed"  # out of budget before both a pass and a fail were known
NOT_CONVERGED = "not_converged"  # bracketed, but stopped before rel_tol
OUT_OF_BUDGET = ("max_probes", "time_budget")


def search_flags(block: Mapping[str, Any] | None) -> list[str]:
    """Flags of a ``max_throughput`` block (empty: a bracketed, converged result)."""
    if not block:
        return []
    flags = []
    if block.get("rps") is None:
        flags.append(NO_MAX_THROUGHPUT)
    if block.get("stop_reason") in OUT_OF_BUDGET:
        bracketed = block.get("lower_rps") is not None and block.get("upper_rps") is not None
        flags.append(NOT_CONVERGED if bracketed else UNBRACKETED)
    return flags


def found_max_throughput(block: Mapping[str, Any] | None) -> bool:
    """False only for a search that ran and found no rate meeting the SLO."""
    return block is None or block.get("rps") is not None


def describe_search(block: Mapping[str, Any] | None) -> str | None:
    """One line on what a flagged search did not establish; None when nothing is wrong."""
    flags = search_flags(block)
    if not flags or block is None:
        return None
    probes = [p for p in block.get("probes") or [] if isinstance(p, Mapping)]
    rates = [float(p["rate_rps"]) for p in probes if p.get("rate_rps") is not None]
    reason = block.get("stop_reason") or "?"
    span = (" at " + " -> ".join(f"{r:.4g}" for r in dict.fromkeys(rates)) + " req/s"
            if rates else "")
    if NO_MAX_THROUGHPUT in flags:
        why = _last_reason(probes)
        early = " before bracketing the limit" if UNBRACKETED in flags else ""
        return (f"no max throughput: none of {len(probes)} probes{span} met the SLO"
                + (f" (last: {why})" if why else "") + f"; stopped at {reason}{early}")
    lower, upper = block.get("lower_rps"), block.get("upper_rps")
    if UNBRACKETED in flags:
        return (f"max throughput not bracketed: {len(probes)} probes{span} all met the SLO "
                f"before {reason} stopped the search; {lower:.4g} req/s is only a lower bound")
    return (f"max throughput not converged: {reason} stopped the search with the limit in "
            f"[{lower:.4g}, {upper:.4g}) req/s")


def _last_reason(probes: list[Mapping[str, Any]]) -> str | None:
    for p in reversed(probes):
        reasons = (p.get("verdict") or {}).get("reasons") if isinstance(
            p.get("verdict"), Mapping) else None
        if reasons:
            return "; ".join(str(r) for r in reasons)
    return None
