"""Latency SLOs derived from requests sent alone, and the check a load point must pass.

Paper §III: "For latency SLOs, we choose the TTFT and TBT achieved when running the
request alone, without any batching or queuing delay." The baseline is a run of requests
sent one at a time (``run_baseline``) at the GPU's maximum clock; the SLO is ``scale``
times the baseline's TTFT and TBT at the configured percentile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from greenllm.errors import ConfigError
from greenllm.load.metrics import LoadMetrics, compute_metrics

# The offered load counts as sustained when responses came back at >= this share of it.
MIN_ACHIEVED_FRACTION = 0.9


@dataclass(frozen=True)
class Slo:
    """TTFT and TBT limits (seconds) at ``percentile``; ``scale`` x the alone-baseline."""

    ttft_s: float
    tbt_s: float
    percentile: float = 90.0
    scale: float = 5.0
    baseline_ttft_s: float | None = None
    baseline_tbt_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("ttft_s", "tbt_s", "scale"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"SLO {name} must be a positive number, got {value!r}")
        if not (isinstance(self.percentile, (int, float)) and 0 < self.percentile <= 100):
            raise ConfigError(f"SLO percentile must be in (0, 100], got {self.percentile!r}")

    def to_dict(self) -> dict[str, Any]:
        """The ``slo`` block of ``summary.json``."""
        return {"percentile": self.percentile, "scale": self.scale, "ttft_s": self.ttft_s,
                "tbt_s": self.tbt_s, "baseline": {"ttft_s": self.baseline_ttft_s,
                                                  "tbt_s": self.baseline_tbt_s}}


def baseline_from(records_frame: pd.DataFrame, scale: float, percentile: float) -> Slo:
    """The SLO from a frame of requests sent alone: ``scale`` x their TTFT and TBT pXX."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ConfigError(f"SLO scale must be a positive number, got {scale!r}")
    if not (isinstance(percentile, (int, float)) and 0 < percentile <= 100):
        raise ConfigError(f"SLO percentile must be in (0, 100], got {percentile!r}")
    metrics = compute_metrics(records_frame)
    if metrics.n_ok == 0:
        errors = "; ".join(metrics.errors) or "no requests"
        raise ConfigError(f"SLO baseline has no successful request ({errors})")
    ttft = metrics.ttft_at(percentile)
    tbt = metrics.tbt_at(percentile)
    if not math.isfinite(tbt):
        raise ConfigError("SLO baseline has no inter-token gap: use an output of >= 2 tokens")
    return Slo(ttft_s=scale * ttft, tbt_s=scale * tbt, percentile=float(percentile),
               scale=float(scale), baseline_ttft_s=ttft, baseline_tbt_s=tbt)


@dataclass
class SloVerdict:
    """Whether a load point met the SLO, and why not."""

    ok: bool
    ttft_s: float  # TTFT at the SLO percentile
    tbt_s: float  # TBT at the SLO percentile
    achieved_fraction: float  # achieved_rps / offered_rps
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _at_percentile(metrics: Mapping[str, Any], name: str, pct: float) -> float:
    """A latency at ``pct`` from a ``summarize`` dict: its SLO value or its block."""
    if metrics.get("slo_percentile") == float(pct) and f"{name}_at_slo_s" in metrics:
        value = metrics[f"{name}_at_slo_s"]
    else:
        block = metrics.get(f"{name}_s") or {}
        key = f"p{pct:g}"
        if key not in block:
            raise ConfigError(f"metrics hold no {name.upper()} at p{pct:g}: summarize them "
                              "with this SLO (summarize(frame, slo=slo))")
        value = block[key]
    return math.nan if value is None else float(value)


def _as_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def slo_verdict(metrics: LoadMetrics | Mapping[str, Any], slo: Slo) -> SloVerdict:
    """TTFT pXX <= slo.ttft_s, TBT pXX <= slo.tbt_s, no failed request, and responses
    came back at >= 90 % of the offered rate (the load was sustained, not queued up).

    ``metrics`` is a ``LoadMetrics`` or the dict of ``summarize``/``LoadMetrics.to_dict``.
    """
    if isinstance(metrics, LoadMetrics):
        ttft, tbt = metrics.ttft_at(slo.percentile), metrics.tbt_at(slo.percentile)
        n_ok, n_failed = metrics.n_ok, metrics.n_failed
        offered, achieved = metrics.offered_rps, metrics.achieved_rps
    else:
        ttft = _at_percentile(metrics, "ttft", slo.percentile)
        tbt = _at_percentile(metrics, "tbt", slo.percentile)
        n_ok, n_failed = int(metrics["n_ok"]), int(metrics["n_failed"])
        offered = _as_nan(metrics.get("offered_rps"))
        achieved = _as_nan(metrics.get("achieved_rps"))
    reasons = []
    if n_ok == 0:
        reasons.append("no successful request")
    if n_failed:
        reasons.append(f"{n_failed} failed requests")
    if not math.isfinite(ttft) or ttft > slo.ttft_s:
        reasons.append(f"TTFT p{slo.percentile:g} {ttft:.4g} s > {slo.ttft_s:.4g} s")
    if math.isfinite(tbt) and tbt > slo.tbt_s:
        reasons.append(f"TBT p{slo.percentile:g} {tbt:.4g} s > {slo.tbt_s:.4g} s")
    fraction = math.nan
    if math.isfinite(offered) and offered > 0:
        fraction = achieved / offered
        # A single request (nan achieved rate) offers no evidence of falling behind.
        if math.isfinite(fraction) and fraction < MIN_ACHIEVED_FRACTION:
            reasons.append(f"achieved {achieved:.4g} of {offered:.4g} req/s offered")
    return SloVerdict(ok=not reasons, ttft_s=ttft, tbt_s=tbt, achieved_fraction=fraction,
                      reasons=reasons)


def meets_slo(metrics: LoadMetrics | Mapping[str, Any], slo: Slo) -> bool:
    """See ``slo_verdict``."""
    return slo_verdict(metrics, slo).ok
