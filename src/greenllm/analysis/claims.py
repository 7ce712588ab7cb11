"""The claims table: each quantitative statement of the paper beside what was measured here.

``compute_claims`` runs every check of ``paper_claims.CLAIMS`` on the cells table and
returns one row per claim; ``write_claims`` writes ``claims.md`` (summary table, then one
section per claim) and ``claims.csv`` beside it. ``uncertainty`` stays empty until repeated
trials exist.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from greenllm.analysis.claim_helpers import (
    NOT_MEASURABLE,
    Measured,
    NotMeasurable,
    data_kind,
    describe_rows,
)
from greenllm.analysis.paper_claims import CLAIMS, Claim
from greenllm.analysis.studies import Study
from greenllm.atomic import atomic_path, write_text
from greenllm.errors import ConfigError

CLAIM_COLUMNS = [
    "claim_id", "paper_statement", "paper_value", "measured_value", "verdict", "criterion",
    "source_figure", "rows_used", "clocks_used", "data", "notes", "uncertainty", "measured",
]


def compute_claims(table: pd.DataFrame, studies: Mapping[str, Study]) -> pd.DataFrame:
    """One row per paper claim (``CLAIM_COLUMNS``); ``measured`` is the headline number."""
    return pd.DataFrame([_row(c, table, studies) for c in CLAIMS], columns=CLAIM_COLUMNS)


def _row(claim: Claim, table: pd.DataFrame, studies: Mapping[str, Study]) -> dict[str, object]:
    try:
        m = claim.check(table, studies)
    except NotMeasurable as exc:
        m = Measured(None, "—", NOT_MEASURABLE, notes=[str(exc)])
    return {
        "claim_id": claim.claim_id,
        "paper_statement": claim.statement,
        "paper_value": claim.paper_value,
        "measured_value": m.text,
        "verdict": m.verdict,
        "criterion": claim.criterion,
        "source_figure": claim.source,
        "rows_used": describe_rows(m.rows),
        "clocks_used": m.clocks_used,
        "data": data_kind(m.rows),
        "notes": "; ".join(m.notes),
        "uncertainty": "",
        "measured": m.value,
    }


def claims_markdown(claims: pd.DataFrame) -> str:
    lines = ["# Paper claims vs this reproduction", ""]
    if claims["data"].str.contains("SIMULATED").any():
        lines += [("> **SIMULATED — not a measurement.** Some or all claims below were "
                   "checked on simulated cells (column *data*)."), ""]
    lines += [
        ("Each row: a quantitative statement of *Towards Greener LLMs* (§IV), the paper's "
         "value, the value measured here, and a verdict (consistent / not consistent / not "
         "measurable here (missing cells) / ambiguous in paper). Details and the rows used "
         "follow the table. *uncertainty* is empty until repeated trials are run."),
        "",
        "| claim | paper value | measured here | verdict | source | data |",
        "|---|---|---|---|---|---|",
    ]
    for r in claims.itertuples():
        lines.append(f"| {r.claim_id} | {_cell(r.paper_value)} | {_cell(r.measured_value)} | "
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
            f"- uncertainty: {r.uncertainty or '(no repeated trials yet)'}",
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
