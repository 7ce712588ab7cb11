"""Claims-table rows beyond the paper's own: which knob wins, on the user's own GPU.

The paper sweeps one knob, the locked SM clock. ``sm_clock_vs_power_cap`` answers
"power capping or frequency locking?" from the cells of both axes
(``analysis.knob_comparison``): per workload, which reaches the lower energy per output
token at equal max throughput under SLO. Without power-limit cells (``clocks.power_limit_w``)
the row says it is not measurable here.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from greenllm.analysis.claim_helpers import (
    CONSISTENT,
    NOT_CONSISTENT,
    Claim,
    Measured,
    NotMeasurable,
)
from greenllm.analysis.knob_comparison import DEFAULT_FLOOR, TIE_REL, compare_knobs, winners_text
from greenllm.analysis.studies import Study


def sm_clock_vs_power_cap(table: pd.DataFrame, studies: Mapping[str, Study]) -> Measured:
    study = studies.get("workload")
    load = study.load if study else "medium"
    cmp = compare_knobs(table, load_point=load)
    per_wl = cmp.drop_duplicates(["instance_id", "workload_id"])
    decided = per_wl[per_wl["winner"] != "undecided"]
    if decided.empty:
        raise NotMeasurable("no workload has cells of both SM-clock locking (f<MHz>) and power "
                            "capping (p<W>, clocks.power_limit_w) that reach the throughput target")
    n_sm = int(decided["winner"].isin(["sm_clock", "tie"]).sum())
    verdict = CONSISTENT if n_sm > len(decided) / 2 else NOT_CONSISTENT
    used = cmp[cmp["status"] == "ok"]
    rows = table[table["clock_label"].isin(used["setting_label"])
                 & table["workload_id"].isin(used["workload_id"])
                 & (table["load_point"] == load)]
    settings = "; ".join(
        f"{r.workload_id}: {r.setting_label}" for r in used.itertuples())
    notes = [f"target: {DEFAULT_FLOOR:.0%} of the best max throughput under SLO either knob "
             f"reaches per workload; tie within {TIE_REL:.0%}; energy per output token at "
             f"{load} load"]
    undecided = per_wl[per_wl["winner"] == "undecided"]
    if not undecided.empty:
        notes.append("undecided (a knob not measured or short of the target): "
                     + ", ".join(sorted(undecided["workload_id"])))
    return Measured(float(n_sm), f"{n_sm}/{len(decided)} workloads: {winners_text(cmp)}",
                    verdict, rows, settings, notes)


KNOB_CLAIMS: tuple[Claim, ...] = (
    Claim("knob_sm_clock_vs_power_cap",
          "The paper locks the SM clock as its one energy knob; power capping is the other "
          "knob the GPU has (\"power capping or frequency locking?\").",
          "SM-clock locking (the only knob the paper sweeps)",
          "SM-clock locking reaches at most power capping's energy per output token (within "
          "2 %) at equal max throughput under SLO on more than half the workloads",
          "knobs", sm_clock_vs_power_cap),
)
