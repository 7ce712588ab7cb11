"""The claims table: each quantitative statement of the paper beside what was measured here.

``compute_claims`` runs every check of ``paper_claim_list.CLAIMS`` on the cells table and
returns one row per claim; ``write_claims`` writes ``claims.md`` (summary table, then one
section per claim) and ``claims.csv`` beside it.

Uncertainty: checks read medians over repeats and name the ``Effect`` behind their
headline number. Its interval (``measured_ci_lo``/``_hi``, described in ``uncertainty``):

1. every operand has >= 3 repeats: 95 % percentile bootstrap, each operand's repeats
   resampled independently and the effect recomputed (``uncertainty.bootstrap_effect``);
2. else, every operand has an interval of its own (a CI, or for max throughput of a single
   search its bracket [lower_rps, upper_rps]): the effect's range over their corners
   (interval arithmetic; conservative, not a probability);
3. else unknown.

``effect_exceeds_uncertainty`` is yes when the interval excludes the effect's null value
(no effect; or for a claim of sameness, its tolerance), no when it does not, unknown
without an interval. A claim that an effect exists is only ``consistent`` (or ``not
consistent``) when its effect is resolved; otherwise it reads ``not resolved (within
noise)``. A claim of sameness is only ``not consistent`` when the excess is resolved.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from greenllm.analysis.claim_helpers import (
    CONSISTENT,
    NOT_CONSISTENT,
    NOT_MEASURABLE,
    NOT_RESOLVED,
    Claim,
    Effect,
    Measured,
    NotMeasurable,
    Operand,
    data_kind,
    describe_rows,
)
from greenllm.analysis.knob_claims import KNOB_CLAIMS
from greenllm.analysis.paper_claim_list import CLAIMS
from greenllm.analysis.statistics import (
    RowIndex,
    ensure_statistics,
    is_statistics_table,
    repeat_values,
)
from greenllm.analysis.studies import Study
from greenllm.analysis.uncertainty import (
    CI_LEVEL,
    DEFAULT_SEED,
    MIN_REPEATS_FOR_CI,
    bootstrap_effect,
    corner_interval,
    excludes,
)
from greenllm.atomic import atomic_path, write_text
from greenllm.errors import ConfigError

CLAIM_COLUMNS = [
    "claim_id", "paper_statement", "paper_value", "measured_value", "verdict", "criterion",
    "source_figure", "rows_used", "clocks_used", "data", "notes", "uncertainty",
    "effect_exceeds_uncertainty", "measured", "measured_ci_lo", "measured_ci_hi",
]
YES, NO, UNKNOWN = "yes", "no", "unknown"
# The paper's claims, then the knob question it does not ask (analysis.knob_claims).
ALL_CLAIMS: tuple[Claim, ...] = CLAIMS + KNOB_CLAIMS


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float
    how: str  # one line: the method and what it rests on

    @property
    def known(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi)


def compute_claims(table: pd.DataFrame, studies: Mapping[str, Study], *,
                   seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """One row per paper claim (``CLAIM_COLUMNS``); ``measured`` is the headline number.

    ``table``: the cells table (one row per repeat: intervals can bootstrap the repeats)
    or its statistics table (intervals from the per-cell CIs only).
    """
    stats = ensure_statistics(table)
    repeats = None if is_statistics_table(table) else RowIndex(table)
    stats_index = RowIndex(stats)
    return pd.DataFrame([_row(c, stats, stats_index, repeats, studies, seed)
                         for c in claims_for(stats)], columns=CLAIM_COLUMNS)


def claims_for(table: pd.DataFrame) -> tuple[Claim, ...]:
    """The paper's claims, plus the knob question when the grid swept a power limit: a
    grid of SM clocks alone (the paper's) did not ask it, so its table has no such row
    rather than a row saying it could not be measured."""
    swept = "knob_axis" in table.columns and (table["knob_axis"] == "power_limit").any()
    return ALL_CLAIMS if swept else CLAIMS


def effect_interval(effect: Effect, stats: RowIndex, repeats: RowIndex | None, *,
                    seed: int = DEFAULT_SEED) -> Interval:
    """The interval of ``effect`` (see the module docstring for the three cases);
    ``stats`` indexes the statistics table, ``repeats`` the cells table (or None)."""
    level = f"{CI_LEVEL:.0%}".replace("%", " %")
    if repeats is not None:
        values = [repeat_values(repeats, op.key, op.metric) for op in effect.operands]
        sizes = [v.size for v in values]
        if min(sizes) >= MIN_REPEATS_FOR_CI:
            lo, hi = bootstrap_effect(values, effect.fn, seed=seed)
            n = f"n={min(sizes)}" if min(sizes) == max(sizes) else f"n={min(sizes)}–{max(sizes)}"
            return Interval(lo, hi, f"{level} bootstrap over repeats ({n} per cell, "
                                    f"{len(values)} cells)")
    intervals = [_operand_interval(stats, op) for op in effect.operands]
    if all(i is not None for i in intervals):
        kinds = sorted({kind for _, _, kind in intervals})  # type: ignore[misc]
        lo, hi = corner_interval([(a, b) for a, b, _ in intervals], effect.fn)  # type: ignore[misc]
        return Interval(lo, hi, f"range over the per-cell {' and '.join(kinds)} (interval "
                                "arithmetic: conservative, not a probability)")
    n = _min_repeats(stats, effect.operands)
    return Interval(math.nan, math.nan,
                    f"no interval: only {n} repeat{'s' if n != 1 else ''} for some cell "
                    f"(a CI needs ≥ {MIN_REPEATS_FOR_CI})")


def _operand_interval(stats: RowIndex, op: Operand) -> tuple[float, float, str] | None:
    row = stats.first(op.key)
    if row is None:
        return None
    lo, hi = row.get(f"{op.metric}_ci_lo"), row.get(f"{op.metric}_ci_hi")
    if _finite(lo) and _finite(hi):
        return float(lo), float(hi), f"{CI_LEVEL:.0%} CIs".replace("%", " %")
    if op.metric == "max_throughput_rps":
        lo, hi = row.get("max_throughput_lower_rps"), row.get("max_throughput_upper_rps")
        if _finite(lo) and _finite(hi):
            # The search's bracket: capacity lies between the best pass and the first fail.
            return float(lo), float(hi), "search brackets"
    return None


def _min_repeats(stats: RowIndex, operands: tuple[Operand, ...]) -> int:
    sizes = [int(r["n_repeats"]) for op in operands if (r := stats.first(op.key)) is not None]
    return min(sizes) if sizes else 0


def _finite(value: object) -> bool:
    try:
        return value is not None and math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _judge(m: Measured, interval: Interval | None) -> tuple[str, str]:
    """(effect_exceeds_uncertainty, verdict) from the check's verdict and the interval."""
    if m.effect is None or interval is None or not interval.known:
        return UNKNOWN, m.verdict
    resolved = excludes((interval.lo, interval.hi), m.effect.null)
    exceeds = YES if resolved else NO
    if not resolved and m.verdict in (CONSISTENT, NOT_CONSISTENT):
        # An existence claim needs its effect out of the noise either way; a sameness
        # claim fails only on a resolved excess (an unresolved spread is "imperceptible").
        if m.effect.asserts_effect or m.verdict == NOT_CONSISTENT:
            return exceeds, NOT_RESOLVED
    return exceeds, m.verdict


def _uncertainty_text(m: Measured, interval: Interval | None) -> str:
    if m.effect is None:
        return "" if m.value is None else "no interval for this claim's number"
    assert interval is not None
    if not interval.known:
        return interval.how
    unit = m.effect.unit
    null = f"{m.effect.null:g}{unit}"
    side = "no effect" if m.effect.asserts_effect else "the tolerance"
    return (f"{interval.lo:.3g} – {interval.hi:.3g}{unit} ({interval.how}); "
            f"{side} = {null}")


def _row(claim: Claim, stats: pd.DataFrame, stats_index: RowIndex, repeats: RowIndex | None,
         studies: Mapping[str, Study], seed: int) -> dict[str, object]:
    try:
        m = claim.check(stats, studies)
    except NotMeasurable as exc:
        m = Measured(None, "—", NOT_MEASURABLE, notes=[str(exc)])
    interval = effect_interval(m.effect, stats_index, repeats, seed=seed) if m.effect else None
    exceeds, verdict = _judge(m, interval)
    return {
        "claim_id": claim.claim_id,
        "paper_statement": claim.statement,
        "paper_value": claim.paper_value,
        "measured_value": m.text,
        "verdict": verdict,
        "criterion": claim.criterion,
        "source_figure": claim.source,
        "rows_used": describe_rows(m.rows),
        "clocks_used": m.clocks_used,
        "data": data_kind(m.rows),
        "notes": "; ".join(m.notes),
        "uncertainty": _uncertainty_text(m, interval),
        "effect_exceeds_uncertainty": exceeds if m.verdict != NOT_MEASURABLE else "",
        "measured": m.value,
        "measured_ci_lo": interval.lo if interval else np.nan,
        "measured_ci_hi": interval.hi if interval else np.nan,
    }


def claims_markdown(claims: pd.DataFrame) -> str:
    lines = ["# Paper claims vs this reproduction", ""]
    if claims["data"].str.contains("SIMULATED").any():
        lines += [("> **SIMULATED — not a measurement.** Some or all claims below were "
                   "checked on simulated cells (column *data*)."), ""]
    lines += [
        ("Each row: a quantitative statement of *Towards Greener LLMs* (§IV), the paper's "
         "value, the value measured here (medians over repeats), and a verdict (consistent / "
         "not consistent / not resolved (within noise) / not measurable here (missing "
         "cells) / ambiguous in paper). *effect > noise* says whether the measured effect's "
         "interval (95 % bootstrap over repeats, or the per-cell intervals' range) excludes "
         "its no-effect value: a verdict on an effect that is not resolved reads *not "
         "resolved*. Details and the rows used follow the table."),
        "",
        "| claim | paper value | measured here | interval | effect > noise | verdict | source "
        "| data |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in claims.itertuples():
        interval = (f"{r.measured_ci_lo:.3g} – {r.measured_ci_hi:.3g}"
                    if _finite(r.measured_ci_lo) and _finite(r.measured_ci_hi) else "-")
        lines.append(f"| {r.claim_id} | {_cell(r.paper_value)} | {_cell(r.measured_value)} | "
                     f"{interval} | {r.effect_exceeds_uncertainty or '-'} | "
                     f"**{r.verdict}** | {r.source_figure} | {r.data or '-'} |")
    for r in claims.itertuples():
        lines += [
            "", f"## {r.claim_id}", "",
            f"> {r.paper_statement}", "",
            f"- paper value: {r.paper_value}",
            f"- measured: {r.measured_value}",
            f"- verdict: **{r.verdict}**",
            f"- criterion: {r.criterion}",
            f"- source: {r.source_figure}; rows: {r.rows_used}",
            f"- clocks used: {r.clocks_used or '-'}",
            f"- data: {r.data or '-'}",
            f"- notes: {r.notes or '-'}",
            f"- uncertainty: {r.uncertainty or '-'}",
            f"- effect exceeds uncertainty: {r.effect_exceeds_uncertainty or '-'}",
        ]
    return "\n".join(lines) + "\n"


def write_claims(claims: pd.DataFrame, out_md: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``out_md`` and the CSV beside it, atomically."""
    md = check_out(out_md)
    csv = md.with_suffix(".csv")
    write_text(md, claims_markdown(claims))
    with atomic_path(csv, suffix=".csv") as tmp:
        claims.to_csv(tmp, index=False)
    return md, csv


def check_out(out_md: str | os.PathLike[str]) -> Path:
    path = Path(out_md)
    if path.suffix != ".md":
        raise ConfigError(f"--out must name a .md file, got {path}")
    return path


def _cell(text: object) -> str:
    return str(text).replace("|", "/")
