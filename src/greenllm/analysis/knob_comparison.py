"""Which knob, SM-clock locking or power capping, reaches lower energy per token at equal
max throughput under SLO, per workload.

For each (instance, workload) the cells of both axes (``knob_axis`` ``sm_clock``: cells
``f<MHz>``; ``power_limit``: cells ``p<W>``, SM clock left to the driver) are compared at
equal service: the **target** is ``floor`` (default 0.95) times the best max throughput
under SLO either knob reaches on that workload, i.e. the card at full speed. A setting
qualifies when its own max throughput under SLO reaches the target; each knob's answer
is its qualifying setting with the lowest energy per output token at the load point
(default ``medium``, a fraction of that cell's max throughput, as in the paper's Fig. 5).
The knob with the lower energy wins; within ``tie_rel`` (2 %) it is a tie. A knob with no
cells, or none that qualifies, says so instead of a number.
"""

from __future__ import annotations

import math

import pandas as pd

from greenllm.analysis.statistics import ensure_statistics

KNOBS = ("sm_clock", "power_limit")
KNOB_NAMES = {"sm_clock": "SM-clock locking", "power_limit": "power capping"}
DEFAULT_FLOOR = 0.95
TIE_REL = 0.02
COLUMNS = ["instance_id", "workload_id", "knob", "status", "setting_label", "setting",
           "energy_per_output_token_j", "max_throughput_rps", "target_rps", "winner",
           "simulated"]


def compare_knobs(table: pd.DataFrame, *, load_point: str = "medium",
                  floor: float = DEFAULT_FLOOR, tie_rel: float = TIE_REL) -> pd.DataFrame:
    """One row per (instance, workload, knob): ``COLUMNS`` (see the module doc)."""
    stats = ensure_statistics(table)
    if "knob_axis" not in stats.columns:
        return pd.DataFrame(columns=COLUMNS)
    ok = stats[(stats["status"] == "ok") & stats["knob_axis"].isin(KNOBS)]
    out: list[dict[str, object]] = []
    for (iid, wl), g in ok.groupby(["instance_id", "workload_id"], sort=True):
        cells = _per_cell(g, load_point)
        if cells.empty or cells["max_throughput_rps"].isna().all():
            continue
        target = floor * float(cells["max_throughput_rps"].max())
        best: dict[str, dict[str, object]] = {}
        for knob in KNOBS:
            mine = cells[cells["knob_axis"] == knob]
            row: dict[str, object] = {"instance_id": iid, "workload_id": wl, "knob": knob,
                                      "target_rps": target, "simulated": bool(g["simulated"].any())}
            if mine.empty:
                row["status"] = "not measured"
            else:
                good = mine[(mine["max_throughput_rps"] >= target)
                            & mine["energy_per_output_token_j"].notna()]
                if good.empty:
                    row["status"] = "no setting reaches the target"
                else:
                    pick = good.sort_values("energy_per_output_token_j").iloc[0]
                    row.update(status="ok", setting_label=pick["clock_label"],
                               setting=_setting(pick, knob),
                               energy_per_output_token_j=float(pick["energy_per_output_token_j"]),
                               max_throughput_rps=float(pick["max_throughput_rps"]))
            best[knob] = row
        winner = _winner(best, tie_rel)
        for row in best.values():
            row["winner"] = winner
            out.append(row)
    return pd.DataFrame(out, columns=COLUMNS)


def _per_cell(g: pd.DataFrame, load_point: str) -> pd.DataFrame:
    """Max throughput (a cell's) beside energy per token at ``load_point``."""
    at = g[g["load_point"] == load_point].drop_duplicates("clock_label")
    mt = g.dropna(subset=["max_throughput_rps"]).drop_duplicates("clock_label").set_index(
        "clock_label")["max_throughput_rps"]
    at = at.assign(max_throughput_rps=at["clock_label"].map(mt))
    return at[["clock_label", "knob_axis", "clock_mhz", "power_limit_requested_w",
               "max_throughput_rps", "energy_per_output_token_j"]]


def _setting(r: pd.Series, knob: str) -> float:
    return float(r["clock_mhz"] if knob == "sm_clock" else r["power_limit_requested_w"])


def _winner(best: dict[str, dict[str, object]], tie_rel: float) -> str:
    """sm_clock, power_limit, tie, or undecided (a knob has no answer)."""
    e = {k: r.get("energy_per_output_token_j") for k, r in best.items()}
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in e.values()):
        ok = [k for k, r in best.items() if r["status"] == "ok"]
        both_measured = all(r["status"] != "not measured" for r in best.values())
        return ok[0] if len(ok) == 1 and both_measured else "undecided"
    a, b = float(e["sm_clock"]), float(e["power_limit"])
    if abs(a - b) <= tie_rel * min(a, b):
        return "tie"
    return "sm_clock" if a < b else "power_limit"


def winners_text(cmp: pd.DataFrame) -> str:
    """'SM-clock locking wins on S-S, M-M; power capping on L-L; tie on …' (one line)."""
    per_wl = cmp.drop_duplicates(["instance_id", "workload_id"])
    parts = []
    for key, name in (("sm_clock", KNOB_NAMES["sm_clock"]), ("power_limit", KNOB_NAMES["power_limit"]),
                      ("tie", "tie"), ("undecided", "undecided")):
        wls = sorted(per_wl.loc[per_wl["winner"] == key, "workload_id"])
        if wls:
            parts.append(f"{name}: {', '.join(wls)}")
    return "; ".join(parts) or "no workload measured with both knobs"
