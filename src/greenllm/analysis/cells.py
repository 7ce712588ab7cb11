"""Find and read cell summaries (schema ``greenllm.cell/1``, docs/results-format.md).

A malformed summary is a user error naming the file, raised before any table is built:
a figure made from half-read results would be worse than no figure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema

from greenllm.errors import GreenllmError

CELL_SCHEMA_ID = "greenllm.cell/1"

_NUM = {"type": ["number", "null"]}
_STR = {"type": ["string", "null"]}
_PCT = {
    "type": ["object", "null"],
    "properties": {k: _NUM for k in ("mean", "p5", "p50", "p90", "p95", "p99", "n")},
}
_OBJ = {"type": ["object", "null"]}

# Only what the analysis reads is constrained; measure may add fields freely.
CELL_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schema", "status", "instance", "clock", "workload"],
    "properties": {
        "schema": {"const": CELL_SCHEMA_ID},
        # "partial": measure rewrites the summary after each repeat; an interrupted run
        # leaves the repeats done so far (flatten marks their rows incomplete_repeats).
        # "no_max_throughput": the search found no rate meeting the SLO (measure/outcome.py).
        "status": {"enum": ["ok", "failed", "partial", "no_max_throughput"]},
        "repeats": {"type": ["integer", "null"], "minimum": 1},
        "error": _STR,
        "simulated": {"type": ["boolean", "null"]},
        "instance": {
            "type": "object",
            "required": ["id", "model", "tp", "max_batch"],
            "properties": {
                "id": {"type": "string"},
                "model": {"type": "string"},
                "tp": {"type": "integer", "minimum": 1},
                "max_batch": {"type": "integer", "minimum": 1},
                "engine": _STR,
                "gpu_indices": {"type": ["array", "null"]},
            },
        },
        "clock": {
            "type": "object",
            "required": ["label", "mode"],
            "properties": {
                "label": {"type": "string"},
                "mode": {"enum": ["pin", "observe"]},
                "requested_mhz": _NUM,
                "applied_mhz": _NUM,
                "achieved_mhz": _PCT,
            },
        },
        "workload": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string"},
                "input_tokens": {"type": ["integer", "null"]},
                "output_tokens": {"type": ["integer", "null"]},
            },
        },
        "slo": {
            "type": ["object", "null"],
            "properties": {
                "percentile": _NUM,
                "scale": _NUM,
                "ttft_s": _NUM,
                "tbt_s": _NUM,
                "baseline": _OBJ,
            },
        },
        "max_throughput": {
            "type": ["object", "null"],
            "properties": {
                k: _NUM for k in ("rps", "output_tok_s", "lower_rps", "upper_rps")
            }
            | {
                "probes": {"type": ["array", "null"]},
                "interval": {"type": ["array", "null"], "items": _NUM},
                # One entry per repeated search (absent: one search for all repeats).
                "repeats": {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "required": ["repeat"],
                        "properties": {
                            "repeat": {"type": "integer", "minimum": 0},
                            **{k: _NUM for k in ("rps", "output_tok_s", "lower_rps",
                                                 "upper_rps")},
                        },
                    },
                },
            },
        },
        "load_points": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "repeat": {"type": "integer", "minimum": 0},  # absent: 0
                    "ttft_s": _PCT,
                    "tbt_s": _PCT,
                    "tpot_s": _PCT,
                    "e2e_s": _PCT,
                    "energy": _OBJ,
                    "sm_clock_mhz": _PCT,
                    "throttle_reasons": {"type": ["array", "null"], "items": {"type": "string"}},
                    "flags": {"type": ["array", "null"], "items": {"type": "string"}},
                }
                | {
                    k: _NUM
                    for k in (
                        "fraction_of_max", "rate_rps", "n_requests", "n_ok", "n_failed",
                        "duration_s", "throughput_rps", "output_tok_s", "goodput_rps",
                        "slo_attainment",
                    )
                },
            },
        },
        "provenance": _OBJ,
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(CELL_JSON_SCHEMA)


SUPERSEDED_DIR = "superseded"  # measure.measured_settings.SUPERSEDED (no import: layering)


def find_cell_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Cell summary files under ``paths`` (files as given, directories recursively).

    In a directory, ``summary.json`` files are cells; any other ``*.json`` is a cell only
    if it declares the cell schema (Snakemake's per-cell copies), so ``instance.json``,
    ``manifest.json`` and SLO baselines that live beside the cells are skipped, and so are
    cells under a ``superseded`` folder (measured afresh by a rerun under other settings).
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            # cells a rerun measured again under other settings (measure.measured_settings)
            found.extend(p for p in sorted(path.rglob("*.json"))
                         if SUPERSEDED_DIR not in p.relative_to(path).parts[:-1]
                         and _is_cell_file(p))
        else:
            raise GreenllmError(f"no such file or directory: {path}")
    # The same file named twice (e.g. a directory and a file inside it) counts once.
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def _is_cell_file(path: Path) -> bool:
    if path.name == "summary.json":
        return True
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    if "greenllm.cell/" not in text:  # cheap test first: most sibling files are not cells
        return False
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return True  # looks like a cell but is broken: load_summary names it
    return isinstance(obj, dict) and str(obj.get("schema", "")).startswith("greenllm.cell/")


def load_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and validate one summary; a one-line ``GreenllmError`` names a bad file."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except OSError as exc:
        raise GreenllmError(f"{path}: cannot read cell summary: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GreenllmError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise GreenllmError(f"{path}: not a {CELL_SCHEMA_ID} summary (top level is not an object)")
    if obj.get("schema") != CELL_SCHEMA_ID:
        raise GreenllmError(
            f"{path}: schema is {obj.get('schema')!r}, expected {CELL_SCHEMA_ID!r}"
        )
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(obj))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        message = " ".join(error.message.split())
        if len(message) > 160:
            message = message[:157] + "..."
        raise GreenllmError(f"{path}: malformed {CELL_SCHEMA_ID} summary at {where}: {message}")
    return obj
