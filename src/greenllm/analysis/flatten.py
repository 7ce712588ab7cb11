"""One cell summary -> tidy rows: one per load point and repeat, every metric a flat column.

A cell without load points (it failed before any, or found no sustainable rate) still
gives one row with ``load_point`` missing, so failed cells stay visible in the table and
in the figures' "missing" notes.

Repeats: each load point entry carries ``repeat`` (0-based; absent = 0). The cell's max
throughput comes from ``max_throughput.repeats[k]`` for repeat k when the search itself
was repeated, else from the one search (``search_repeat`` says which search a row's
max-throughput columns come from, so statistics count each search once). A ``partial``
cell (an interrupted run) keeps its finished repeats as ``ok`` rows flagged
``incomplete_repeats``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenllm.analysis.energy_split import attribute
from greenllm.search_outcome import NO_MAX_THROUGHPUT, describe_search, search_flags

PERCENTILE_STATS = ("p50", "p90", "p99", "mean")
LATENCY_METRICS = ("ttft", "tbt", "tpot", "e2e")

# Column -> kind ("str", "int", "float", "bool", "joined": a ';'-joined list, "" when
# empty), in table order. Nullable numbers are
# floats (NaN) so that parquet and CSV round-trip them the same way.
_KEY_COLUMNS = {
    "instance_id": "str",
    "model": "str",
    "tp": "int",
    "max_batch": "int",
    "engine": "str",
    "n_gpus": "float",
    "clock_label": "str",
    "clock_mode": "str",
    "clock_requested_mhz": "float",
    "clock_applied_mhz": "float",
    "clock_achieved_mean_mhz": "float",
    "clock_achieved_p50_mhz": "float",
    "clock_mhz": "float",
    "knob_axis": "str",
    "power_limit_requested_w": "float",
    "power_limit_w": "float",
    "memory_clock_requested_mhz": "float",
    "memory_clock_mhz": "float",
    "workload_id": "str",
    "input_tokens": "float",
    "output_tokens": "float",
    "load_point": "str",
    "repeat": "int",
    "status": "str",
    "error": "str",
    "simulated": "bool",
}
_LOAD_COLUMNS = {
    "fraction_of_max": "float",
    "rate_rps": "float",
    "n_requests": "float",
    "n_ok": "float",
    "n_failed": "float",
    "duration_s": "float",
    **{f"{m}_{s}_s": "float" for m in LATENCY_METRICS for s in PERCENTILE_STATS},
    "throughput_rps": "float",
    "output_tok_s": "float",
    "goodput_rps": "float",
    "slo_attainment": "float",
    "window_s": "float",
    "energy_j": "float",
    "energy_integral_j": "float",
    "energy_disagreement": "float",
    "energy_integral_noise": "float",
    "energy_per_request_j": "float",
    "energy_per_output_token_j": "float",
    "power_mean_w": "float",
    "power_max_w": "float",
    # energy attribution (measure.energy_phases, measure.idle_power, host_energy)
    "idle_power_w": "float",
    "energy_idle_j": "float",
    "energy_prefill_j": "float",
    "energy_decode_j": "float",
    "energy_split_sum_j": "float",
    "energy_split_integral_j": "float",
    "energy_split_scale": "float",
    "energy_split_method": "str",
    "idle_s": "float",
    "prefill_s": "float",
    "decode_s": "float",
    "power_prefill_mean_w": "float",
    "power_decode_mean_w": "float",
    "host_energy_j": "float",
    "host_power_mean_w": "float",
    "host_energy_status": "str",
    "host_energy_scope": "str",
    "sm_clock_mean_mhz": "float",
    "sm_clock_p50_mhz": "float",
    "throttle_reasons": "joined",
    "flags": "joined",
}
_CELL_COLUMNS = {
    "max_throughput_rps": "float",
    "max_throughput_output_tok_s": "float",
    "max_throughput_lower_rps": "float",
    "max_throughput_upper_rps": "float",
    "search_repeat": "int",
    "repeats_planned": "float",
    # why the load point's repeats stopped (its cell's, under stop_per=cell or before
    # per-point stopping): targets_met | cap (CI target not reached) | fixed
    "repeat_stop": "str",
    # which engine start (0-based) measured the row, with load.engine_starts > 1; else empty
    "engine_start": "float",
    # the instance's spend (measure/spend.py), the same on every row of the instance
    "instance_gpu_s_held": "float",
    "instance_gpu_s_in_windows": "float",
    "instance_engine_starts": "float",
    "slo_percentile": "float",
    "slo_scale": "float",
    "slo_ttft_s": "float",
    "slo_tbt_s": "float",
    "slo_baseline_ttft_s": "float",
    "slo_baseline_tbt_s": "float",
    "slo_baseline_clock_mhz": "float",
    "config_hash": "str",
    "git_rev": "str",
    "greenllm_version": "str",
    "engine_version": "str",
    "gpu_name": "str",
    "started_at": "str",
    "finished_at": "str",
    "source_path": "str",
}
COLUMNS: dict[str, str] = {**_KEY_COLUMNS, **_LOAD_COLUMNS, **_CELL_COLUMNS}

# A cell is identified by these; a statistics row adds the load point; a table row
# also the repeat.
CELL_KEY = ("instance_id", "clock_label", "workload_id")
ROW_KEY = (*CELL_KEY, "load_point")
REPEAT_KEY = (*ROW_KEY, "repeat")
INCOMPLETE_REPEATS_FLAG = "incomplete_repeats"


def summary_rows(summary: dict[str, Any], source: Path | str) -> list[dict[str, Any]]:
    """The table rows of one validated summary."""
    cell = _cell_fields(summary, source)
    searches = _searches(summary)
    points = summary.get("load_points") or []
    if not points:
        # No load points: one row per repeated search (its max throughput), else one row.
        repeats = sorted(searches) or [0]
        rows = [{**cell, **_search_fields(searches, k, summary), "load_point": None,
                 "repeat": k} for k in repeats]
        _mark_search_outcome(rows, summary)
        return rows
    rows = []
    for lp in points:
        repeat = int(lp.get("repeat") or 0)
        row = {**cell, **_search_fields(searches, repeat, summary),
               **_load_point_fields(lp, summary["clock"].get("idle_power_w"))}
        row["repeat"] = repeat
        row["engine_start"] = lp.get("engine_start")
        # Per-point stopping (load.stop_per=point): a point's own stop, not its cell's.
        own = ((summary.get("repeat_policy") or {}).get("points") or {}).get(lp.get("name"))
        if own:
            row["repeat_stop"] = own.get("stopped")
        if summary["status"] == "partial":
            row["flags"] = ";".join([f for f in row["flags"].split(";") if f]
                                    + [INCOMPLETE_REPEATS_FLAG])
        rows.append(row)
    _mark_search_outcome(rows, summary)
    for row in rows:
        # Observe mode without a cell-wide achieved clock: use the load point's own.
        if row["clock_mhz"] is None and row["sm_clock_mean_mhz"] is not None:
            row["clock_mhz"] = float(np.round(row["sm_clock_mean_mhz"]))
    return rows


def _mark_search_outcome(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """A search that found nothing is no measurement: the points it could not derive (and
    a cell without points) get status ``no_max_throughput`` with the reason as error,
    also in summaries written before that status existed; points at absolute rates stay
    ok. A search stopped by its budget flags every row ``search_unbracketed`` or
    ``search_not_converged``."""
    block = summary.get("max_throughput")
    flags = search_flags(block)
    extra = [f"search_{f}" for f in flags if f != NO_MAX_THROUGHPUT]
    why = describe_search(block) or "no max throughput"
    for row in rows:
        own = [f for f in str(row.get("flags") or "").split(";") if f]
        skipped = NO_MAX_THROUGHPUT in own or (row["load_point"] is None
                                               and NO_MAX_THROUGHPUT in flags)
        if skipped and row["status"] != "failed":
            row["status"], row["error"] = NO_MAX_THROUGHPUT, row.get("error") or why
        elif row["status"] == NO_MAX_THROUGHPUT:
            row["status"] = "ok"  # a point at an absolute rate, measured without the max
        row["flags"] = ";".join(dict.fromkeys(own + extra))


def rows_to_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> DataFrame with every column of ``COLUMNS`` in order, with stable dtypes."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for name, kind in COLUMNS.items():
        frame[name] = _coerce(frame[name], kind)
    return frame


def coerce_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Restore the column kinds of a table read back from CSV (parquet keeps them)."""
    frame = frame.copy()
    for name, kind in COLUMNS.items():
        if name in frame.columns:
            frame[name] = _coerce(frame[name], kind)
    return frame


def _coerce(col: pd.Series, kind: str) -> pd.Series:
    if kind == "float":
        return pd.to_numeric(col, errors="coerce").astype("float64")
    if kind == "int":
        return pd.to_numeric(col, errors="coerce").astype("int64")
    if kind == "bool":
        return col.map(_to_bool).astype(bool)
    if kind == "joined":
        return col.astype("str").fillna("")
    return col.astype("str")


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _searches(summary: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Repeated searches by repeat index (empty when the search ran once)."""
    mt = summary.get("max_throughput") or {}
    return {int(r["repeat"]): r for r in (mt.get("repeats") or [])}


def _search_fields(searches: dict[int, dict[str, Any]], repeat: int,
                   summary: dict[str, Any]) -> dict[str, Any]:
    """Max-throughput columns of a repeat: its own search if it had one, else the first."""
    if repeat not in searches:
        return {"search_repeat": 0}
    r = searches[repeat]
    out: dict[str, Any] = {
        "search_repeat": repeat,
        "max_throughput_rps": r.get("rps"),
        "max_throughput_lower_rps": r.get("lower_rps"),
        "max_throughput_upper_rps": r.get("upper_rps"),
    }
    if r.get("output_tok_s") is not None:
        out["max_throughput_output_tok_s"] = r["output_tok_s"]
    elif r.get("rps") is not None and (summary["workload"].get("output_tokens")):
        out["max_throughput_output_tok_s"] = r["rps"] * summary["workload"]["output_tokens"]
    else:
        out["max_throughput_output_tok_s"] = None
    return out


def _cell_fields(s: dict[str, Any], source: Path | str) -> dict[str, Any]:
    inst = s["instance"]
    clock = s["clock"]
    wl = s["workload"]
    slo = s.get("slo") or {}
    baseline = slo.get("baseline") or {}
    mt = s.get("max_throughput") or {}
    prov = s.get("provenance") or {}
    gpus = prov.get("gpus") or [{}]
    achieved = clock.get("achieved_mhz") or {}
    return {
        "instance_id": inst["id"],
        "model": inst["model"],
        "tp": inst["tp"],
        "max_batch": inst["max_batch"],
        "engine": inst.get("engine"),
        "n_gpus": len(inst["gpu_indices"]) if inst.get("gpu_indices") else inst["tp"],
        "clock_label": clock["label"],
        "clock_mode": clock["mode"],
        "clock_requested_mhz": clock.get("requested_mhz"),
        "clock_applied_mhz": clock.get("applied_mhz"),
        "clock_achieved_mean_mhz": achieved.get("mean"),
        "clock_achieved_p50_mhz": achieved.get("p50"),
        "clock_mhz": _plot_clock_mhz(clock),
        **knob_fields(clock),
        "workload_id": wl["id"],
        "input_tokens": wl.get("input_tokens"),
        "output_tokens": wl.get("output_tokens"),
        # A partial cell's finished repeats are usable data (flagged incomplete_repeats).
        "status": "ok" if s["status"] == "partial" else s["status"],
        "error": s.get("error"),
        "simulated": bool(s.get("simulated")),
        "max_throughput_rps": mt.get("rps"),
        "max_throughput_output_tok_s": mt.get("output_tok_s"),
        "max_throughput_lower_rps": mt.get("lower_rps"),
        "max_throughput_upper_rps": mt.get("upper_rps"),
        "repeats_planned": s.get("repeats"),
        "repeat_stop": (s.get("repeat_policy") or {}).get("stopped"),
        "instance_gpu_s_held": (s.get("instance_spend") or {}).get("gpu_s_held"),
        "instance_gpu_s_in_windows": (s.get("instance_spend") or {}).get("gpu_s_in_windows"),
        "instance_engine_starts": (s.get("instance_spend") or {}).get("engine_starts"),
        "slo_percentile": slo.get("percentile"),
        "slo_scale": slo.get("scale"),
        "slo_ttft_s": slo.get("ttft_s"),
        "slo_tbt_s": slo.get("tbt_s"),
        "slo_baseline_ttft_s": baseline.get("ttft_s"),
        "slo_baseline_tbt_s": baseline.get("tbt_s"),
        "slo_baseline_clock_mhz": baseline.get("clock_mhz"),
        "config_hash": prov.get("config_hash"),
        "git_rev": prov.get("git_rev"),
        "greenllm_version": prov.get("greenllm_version"),
        "engine_version": prov.get("engine_version"),
        "gpu_name": (gpus[0] or {}).get("name"),
        "started_at": prov.get("started_at"),
        "finished_at": prov.get("finished_at"),
        "source_path": str(source),
    }


def knob_fields(clock: dict[str, Any]) -> dict[str, Any]:
    """The power limit and memory clock of a cell (greenllm.sweep_axes); summaries from
    before they were knobs say nothing, and their axis follows from the label."""
    label = str(clock.get("label", ""))
    axis = clock.get("axis") or ("native" if clock.get("mode") == "observe"
                                 else "sm_clock" if label.startswith("f") else None)
    return {
        "knob_axis": axis,
        "power_limit_requested_w": clock.get("requested_power_limit_w"),
        "power_limit_w": clock.get("power_limit_w"),
        "memory_clock_requested_mhz": clock.get("requested_memory_clock_mhz"),
        "memory_clock_mhz": clock.get("memory_clock_mhz"),
    }


def _plot_clock_mhz(clock: dict[str, Any]) -> float | None:
    """The clock a figure puts on its x axis: requested when pinned, achieved when observed.

    In observe mode nothing was requested; the cell's mean achieved SM clock (rounded to
    1 MHz) is the honest x value.
    """
    if clock["mode"] == "pin":
        value = clock.get("requested_mhz")
        return value if value is not None else clock.get("applied_mhz")
    mean = (clock.get("achieved_mhz") or {}).get("mean")
    return None if mean is None else float(np.round(mean))


def attribution_fields(lp: dict[str, Any], idle_power_w: float | None) -> dict[str, Any]:
    """Idle / prefill / decode split (measure.energy_phases) and host RAPL energy."""
    energy = lp.get("energy") or {}
    host = lp.get("host_energy") or {}
    return {
        "idle_power_w": idle_power_w,
        **attribute(energy.get("phases"), idle_power_w, energy.get("energy_j")),
        "host_energy_j": host.get("energy_j"),
        "host_power_mean_w": host.get("power_mean_w"),
        # "ok", "not available" (reason in scope), or missing: not recorded by this run
        "host_energy_status": host.get("status"),
        "host_energy_scope": host.get("scope") or host.get("reason"),
    }


def _load_point_fields(lp: dict[str, Any], idle_power_w: float | None = None) -> dict[str, Any]:
    energy = lp.get("energy") or {}
    sm = lp.get("sm_clock_mhz") or {}
    row: dict[str, Any] = {
        "load_point": lp["name"],
        **{k: lp.get(k) for k in (
            "fraction_of_max", "rate_rps", "n_requests", "n_ok", "n_failed", "duration_s",
            "throughput_rps", "output_tok_s", "goodput_rps", "slo_attainment",
        )},
        "window_s": energy.get("window_s"),
        "energy_j": energy.get("energy_j"),
        "energy_integral_j": energy.get("energy_integral_j"),
        "energy_disagreement": energy.get("disagreement"),
        "energy_integral_noise": energy.get("integral_noise"),
        "energy_per_request_j": energy.get("energy_per_request_j"),
        "energy_per_output_token_j": energy.get("energy_per_output_token_j"),
        "power_mean_w": energy.get("power_mean_w"),
        "power_max_w": energy.get("power_max_w"),
        "sm_clock_mean_mhz": sm.get("mean"),
        "sm_clock_p50_mhz": sm.get("p50"),
        "throttle_reasons": ";".join(lp.get("throttle_reasons") or []),
        "flags": ";".join(lp.get("flags") or []),
        **attribution_fields(lp, idle_power_w),
    }
    for metric in LATENCY_METRICS:
        block = lp.get(f"{metric}_s") or {}
        for stat in PERCENTILE_STATS:
            row[f"{metric}_{stat}_s"] = block.get(stat)
    return row
