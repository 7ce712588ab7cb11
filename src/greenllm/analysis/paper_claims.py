"""The paper's quantitative statements (§IV), each as a check against the cells table.

Every check uses the same rows as the figure it cites (``select_rows`` with that figure's
study), so a claim and its figure can never disagree about the data. Checks raise
``NotMeasurable`` (with the reason) when the rows they need are missing. Rows are medians
over repeats; each check also names its ``Effect`` (which cells and metrics its headline
number comes from, and how), from which ``claims`` derives the number's interval.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from greenllm.analysis.claim_helpers import (
    AMBIGUOUS,
    CONSISTENT,
    NO_COST_TOLERANCE,
    NOT_CONSISTENT,
    Effect,
    Measured,
    NotMeasurable,
    Operand,
    common_clocks,
    nearest_clock,
    operand,
    pct,
    pinned_clocks,
    require,
    row_key,
    value_at,
    within,
)
from greenllm.analysis.select import select_rows
from greenllm.analysis.studies import Study

PAPER_MAX_CLOCK_MHZ = 1980.0
Studies = Mapping[str, Study]


def _study(studies: Studies, name: str) -> Study:
    if name not in studies:
        raise NotMeasurable(f"the {name!r} study is not configured")
    return studies[name]


def _pinned(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["clock_mode"] == "pin"]


def _top_clock(clocks: list[float], what: str) -> tuple[float, list[str]]:
    if not clocks:
        raise NotMeasurable(f"no pinned clock measured for {what}")
    top = clocks[-1]
    note = [] if top == PAPER_MAX_CLOCK_MHZ else [
        f"highest clock measured for {what}: {top:.0f} MHz (paper: 1980 MHz)"]
    return top, note


# Effect functions: (B, k) operand draws -> B headline values (see claim_helpers.Effect).


def _drop_pct(x: np.ndarray) -> np.ndarray:
    """100 (1 - a/b) for operands (a, b)."""
    return 100 * (1 - x[:, 0] / x[:, 1])


def _gain_pct(x: np.ndarray) -> np.ndarray:
    """100 (b/a - 1) for operands (a, b)."""
    return 100 * (x[:, 1] / x[:, 0] - 1)


def _pair_ratios(x: np.ndarray) -> np.ndarray:
    """Operands (a1, b1, a2, b2, ...) -> (B, pairs) ratios a_i / b_i."""
    return x[:, 0::2] / x[:, 1::2]


def _pair_operands(rows: pd.DataFrame, metric: str, col: str, groups: list[object],
                   lo: float, hi: float) -> tuple[Operand, ...]:
    """(metric at lo, metric at hi) for each group, flattened in ``groups`` order."""
    ops: list[Operand] = []
    for g in groups:
        ops += [operand(rows, metric, **{col: g, "clock_mhz": lo}),
                operand(rows, metric, **{col: g, "clock_mhz": hi})]
    return tuple(ops)


# --- §IV-A workload type -------------------------------------------------------------


def half_clock_ss_throughput(table: pd.DataFrame, studies: Studies) -> Measured:
    st = _study(studies, "workload")
    rows = _pinned(select_rows(table, st, per_cell=True).usable("max_throughput_rps"))
    rows = rows[rows["workload_id"] == "S-S"]
    clocks = pinned_clocks(rows)
    if len(clocks) < 2:
        raise NotMeasurable("S-S max throughput is not measured at two pinned clocks")
    top, notes = _top_clock(clocks, "S-S")
    half, note = nearest_clock(clocks[:-1], top / 2, "half the highest clock")
    notes += [note] if note else []
    t_top = value_at(rows, "max_throughput_rps", clock_mhz=top)
    t_half = value_at(rows, "max_throughput_rps", clock_mhz=half)
    loss = 100 * (1 - t_half / t_top)
    effect = Effect((operand(rows, "max_throughput_rps", clock_mhz=half),
                     operand(rows, "max_throughput_rps", clock_mhz=top)), _drop_pct)
    return Measured(
        loss, f"{pct(loss)} lower ({t_half:.3g} vs {t_top:.3g} req/s)", within(loss, 20),
        rows[rows["clock_mhz"].isin([half, top])], f"{half:.0f} vs {top:.0f} MHz", notes,
        effect,
    )


def power_cut_without_cost(table: pd.DataFrame, studies: Studies) -> Measured:
    st = _study(studies, "workload")
    rows = _pinned(select_rows(table, st).usable("power_max_w"))
    best: dict[str, tuple[float, float]] = {}
    pairs: dict[str, tuple[Operand, Operand]] = {}  # workload -> (best clock, top clock)
    used = []
    for wl, g in rows.groupby("workload_id"):
        clocks = pinned_clocks(g)
        if len(clocks) < 2:
            continue
        ref = g[g["clock_mhz"] == clocks[-1]].iloc[0]
        best[wl] = (0.0, clocks[-1])
        for _, r in g[g["clock_mhz"] < clocks[-1]].iterrows():
            saving = 100 * (1 - r["power_max_w"] / ref["power_max_w"])
            if _no_cost(r, ref) and saving > best[wl][0]:
                best[wl] = (saving, r["clock_mhz"])
                pairs[wl] = (Operand(row_key(r), "power_max_w"),
                             Operand(row_key(ref), "power_max_w"))
        used.append(g)
    if not best:
        raise NotMeasurable("no workload has max power at two pinned clocks")
    savings = pd.Series({wl: s for wl, (s, _) in best.items()})
    n_ok = int((savings >= 20).sum())
    verdict = CONSISTENT if n_ok > len(savings) / 2 else NOT_CONSISTENT
    clocks_used = "; ".join(f"{wl}: {c:.0f} MHz" for wl, (_, c) in sorted(best.items()))
    notes = [] if len(best) == len(st.workloads) else [
        f"measured {len(best)} of {len(st.workloads)} workloads"]
    notes.append("interval: of the median saving at the chosen clocks (the no-cost choice "
                 "of clock is itself made on noisy medians)")
    n_zero = len(best) - len(pairs)  # workloads with no no-cost clock save exactly 0 %

    def median_saving(x: np.ndarray) -> np.ndarray:
        per_wl = 100 * (1 - _pair_ratios(x)) if x.shape[1] else np.empty((len(x), 0))
        return np.median(np.hstack([per_wl, np.zeros((len(x), n_zero))]), axis=1)

    effect = Effect(tuple(op for wl in sorted(pairs) for op in pairs[wl]), median_saving)
    return Measured(
        float(savings.median()),
        f"{n_ok}/{len(savings)} workloads save ≥ 20 % (best no-cost saving: median "
        f"{pct(savings.median())}, range {pct(savings.min())} – {pct(savings.max())})",
        verdict, pd.concat(used), clocks_used, notes, effect if pairs else None,
    )


def _no_cost(row: pd.Series, ref: pd.Series) -> bool:
    """Latency within +5 % and max throughput within −5 % of the reference clock's."""
    tol = NO_COST_TOLERANCE
    return bool(
        row["ttft_p50_s"] <= ref["ttft_p50_s"] * (1 + tol)
        and row["tbt_p50_s"] <= ref["tbt_p50_s"] * (1 + tol)
        and row["max_throughput_rps"] >= ref["max_throughput_rps"] * (1 - tol)
    )


def _clock_response(table: pd.DataFrame, studies: Studies, metric: str) -> tuple[
        pd.Series, pd.DataFrame, float, float]:
    """metric(lowest clock) / metric(highest clock) per workload, at clocks all share.

    The ratios' operands, in ``ratio.index`` order, are
    ``_pair_operands(used, metric, "workload_id", list(ratio.index), lo, hi)``."""
    st = _study(studies, "workload")
    rows = _pinned(select_rows(table, st).usable(metric))
    clocks = common_clocks(rows, "workload_id")
    if len(clocks) < 2 or rows["workload_id"].nunique() < 2:
        raise NotMeasurable(f"{metric} is not measured at two clocks common to two workloads")
    lo, hi = clocks[0], clocks[-1]
    used = rows[rows["clock_mhz"].isin([lo, hi])]
    at = used.pivot_table(index="workload_id", columns="clock_mhz", values=metric)
    return at[lo] / at[hi], used, lo, hi


def ttft_sensitivity_grows_with_prompt(table: pd.DataFrame, studies: Studies) -> Measured:
    ratio, used, lo, hi = _clock_response(table, studies, "ttft_p50_s")
    inputs = used.drop_duplicates("workload_id").set_index("workload_id")["input_tokens"]
    by_input = ratio.groupby(inputs.reindex(ratio.index)).median().sort_index()
    if len(by_input) < 2:
        raise NotMeasurable("TTFT clock response needs at least two input lengths")
    increasing = bool((by_input.diff().dropna() > 0).all())
    text = ", ".join(f"in {int(i)}: {r:.2f}×" for i, r in by_input.items())
    # Columns of each input length among the ratios, for the effect's recomputation.
    wl_inputs = inputs.reindex(ratio.index).to_numpy()
    columns = [np.flatnonzero(wl_inputs == i) for i in by_input.index]

    def longest_over_shortest(x: np.ndarray) -> np.ndarray:
        r = _pair_ratios(x)
        return np.median(r[:, columns[-1]], axis=1) / np.median(r[:, columns[0]], axis=1)

    effect = Effect(_pair_operands(used, "ttft_p50_s", "workload_id", list(ratio.index), lo, hi),
                    longest_over_shortest, null=1.0, unit="×")
    return Measured(
        float(by_input.iloc[-1] / by_input.iloc[0]),
        f"TTFT({lo:.0f})/TTFT({hi:.0f} MHz), median over outputs: {text}",
        CONSISTENT if increasing else NOT_CONSISTENT, used, f"{lo:.0f} vs {hi:.0f} MHz",
        [("the paper adds that power throttling damps the effect for large inputs; this "
          "checks the monotonic trend only"),
         "interval: of the longest-input slowdown over the shortest-input one"],
        effect,
    )


def tbt_response_same_for_all_lengths(table: pd.DataFrame, studies: Studies) -> Measured:
    ratio, used, lo, hi = _clock_response(table, studies, "tbt_p50_s")
    spread = 100 * (ratio.max() - ratio.min()) / ratio.median()

    def spread_pct(x: np.ndarray) -> np.ndarray:
        r = _pair_ratios(x)
        return 100 * (r.max(axis=1) - r.min(axis=1)) / np.median(r, axis=1)

    # A claim of "no difference": the effect to resolve is a spread beyond the 10 % bound.
    effect = Effect(_pair_operands(used, "tbt_p50_s", "workload_id", list(ratio.index), lo, hi),
                    spread_pct, null=10.0, asserts_effect=False)
    return Measured(
        float(spread),
        f"TBT({lo:.0f})/TBT({hi:.0f} MHz) from {ratio.min():.2f}× to {ratio.max():.2f}× over "
        f"{len(ratio)} workloads (spread {pct(spread)} of the median)",
        CONSISTENT if spread <= 10 else NOT_CONSISTENT, used, f"{lo:.0f} vs {hi:.0f} MHz",
        ["interval: a max − min spread only grows with noise, so its bootstrap interval "
         "lies above the noise-free spread; only an excess over 10 % that stands out of it "
         "counts against the claim"],
        effect,
    )


# --- §IV-B parallelism ----------------------------------------------------------------


def _at_top_common_clock(rows: pd.DataFrame, group: str, what: str) -> tuple[
        pd.DataFrame, str, list[str]]:
    """Rows at the highest pinned clock every group has (or each group's observed clock)."""
    if not rows.empty and (rows["clock_mode"] == "observe").all():
        at = rows.sort_values("clock_mhz").groupby(group).tail(1)
        clocks = ", ".join(f"{c:.0f}" for c in at["clock_mhz"])
        return at, f"observed {clocks} MHz", ["clocks observed, not pinned"]
    top, notes = _top_clock(common_clocks(_pinned(rows), group), what)
    at = rows[(rows["clock_mode"] == "pin") & (rows["clock_mhz"] == top)]
    return at, f"{top:.0f} MHz", notes


def _tp_gain(
    table: pd.DataFrame, studies: Studies, low: int, high: int, paper_pct: float
) -> Measured:
    st = _study(studies, "tp")
    rows = select_rows(table, st, per_cell=True).usable("max_throughput_rps")
    rows = rows[rows["tp"].isin([low, high])]
    require(rows, "tp", (low, high), "TP{}", "max_throughput_rps")
    at, clock, notes = _at_top_common_clock(rows, "tp", f"TP{low} and TP{high}")
    t_low = value_at(at, "max_throughput_rps", tp=low)
    t_high = value_at(at, "max_throughput_rps", tp=high)
    gain = 100 * (t_high / t_low - 1)
    effect = Effect((operand(at, "max_throughput_rps", tp=low),
                     operand(at, "max_throughput_rps", tp=high)), _gain_pct)
    return Measured(gain, f"+{pct(gain)} ({t_low:.3g} → {t_high:.3g} req/s)",
                    within(gain, paper_pct), at, clock, notes, effect)


def tp2_to_tp4_throughput(table: pd.DataFrame, studies: Studies) -> Measured:
    return _tp_gain(table, studies, 2, 4, 75)


def tp4_to_tp8_throughput(table: pd.DataFrame, studies: Studies) -> Measured:
    return _tp_gain(table, studies, 4, 8, 40)


def tp2_energy_vs_tp8(table: pd.DataFrame, studies: Studies) -> Measured:
    st = _study(studies, "tp")
    rows = select_rows(table, st).usable("energy_per_request_j")
    rows = rows[rows["tp"].isin([2, 8]) & rows["max_throughput_rps"].notna()]
    require(rows, "tp", (2, 8), "TP{}", "energy_per_request_j")
    at, clock, notes = _at_top_common_clock(rows, "tp", "TP2 and TP8")
    energy_lower = 100 * (1 - value_at(at, "energy_per_request_j", tp=2)
                          / value_at(at, "energy_per_request_j", tp=8))
    fewer = 100 * (1 - value_at(at, "max_throughput_rps", tp=2)
                   / value_at(at, "max_throughput_rps", tp=8))
    both = within(energy_lower, 40) == CONSISTENT and within(fewer, 60) == CONSISTENT
    effect = Effect((operand(at, "energy_per_request_j", tp=2),
                     operand(at, "energy_per_request_j", tp=8)), _drop_pct)
    return Measured(
        energy_lower,
        f"energy for the same requests {pct(energy_lower)} below TP8's; max throughput "
        f"{pct(fewer)} below TP8's",
        CONSISTENT if both else NOT_CONSISTENT, at, clock,
        notes + ["'total energy' = energy per request × a fixed request count (same work)",
                 "interval: of the energy difference"],
        effect,
    )


# --- §IV-C batching ---------------------------------------------------------------------


def batch64_vs_batch4_throughput(table: pd.DataFrame, studies: Studies) -> Measured:
    st = _study(studies, "batch")
    rows = select_rows(table, st, per_cell=True).usable("max_throughput_rps")
    small, large = (4, 64) if {4, 64} <= set(rows["max_batch"]) else (
        rows["max_batch"].min(), rows["max_batch"].max())
    if pd.isna(small) or small == large:
        raise NotMeasurable("max throughput is not measured for two batch sizes")
    rows = rows[rows["max_batch"].isin([small, large])]
    at, clock, notes = _at_top_common_clock(rows, "max_batch", "both batch sizes")
    ratio = value_at(at, "max_throughput_rps", max_batch=large) / value_at(
        at, "max_throughput_rps", max_batch=small)
    if (small, large) != (4, 64):
        notes.append(f"batch 4/64 not both measured: compared batch {small} with {large}")
    effect = Effect((operand(at, "max_throughput_rps", max_batch=small),
                     operand(at, "max_throughput_rps", max_batch=large)), _gain_pct)
    return Measured(100 * (ratio - 1), f"+{pct(100 * (ratio - 1))} ({ratio:.2f}×)",
                    AMBIGUOUS, at, clock, notes, effect)


def low_load_smaller_batch_energy(table: pd.DataFrame, studies: Studies) -> Measured:
    st = _study(studies, "batch")
    if not st.low_load:
        raise NotMeasurable("the batch study names no low_load point")
    rows = _pinned(select_rows(table, st, load_points=[st.low_load]).usable("energy_per_request_j"))
    largest = max(st.max_batches)
    ref = rows[rows["max_batch"] == largest].set_index("clock_mhz")["energy_per_request_j"]
    smaller = rows[(rows["max_batch"] < largest) & rows["clock_mhz"].isin(ref.index)]
    if ref.empty or smaller.empty:
        raise NotMeasurable(f"low-load energy is not measured for batch {largest} and a smaller "
                            "batch at a common clock")
    saving = 100 * (1 - smaller["energy_per_request_j"] / smaller["clock_mhz"].map(ref))
    best = smaller.loc[saving.idxmax()]
    used = rows[rows["clock_mhz"].isin(smaller["clock_mhz"])]
    effect = Effect((Operand(row_key(best), "energy_per_request_j"),
                     operand(rows, "energy_per_request_j", max_batch=largest,
                             clock_mhz=best["clock_mhz"])), _drop_pct)
    return Measured(
        float(saving.max()),
        f"up to {pct(saving.max())} (batch {int(best['max_batch'])} vs {largest} at "
        f"{best['clock_mhz']:.0f} MHz)",
        within(float(saving.max()), 15), used, "each clock vs the same clock",
        ["interval: of the largest saving's pair (picking the largest of several noisy "
         "savings biases it upwards)"], effect,
    )


def batch_lower_clock_same_throughput(table: pd.DataFrame, studies: Studies) -> Measured:
    st = _study(studies, "batch")
    rows = _pinned(select_rows(table, st).usable("energy_per_request_j"))
    rows = rows[rows["max_throughput_rps"].notna()]
    clocks = pinned_clocks(rows)
    hi, note_hi = nearest_clock(clocks, 2000.0, "~2 GHz")
    lo, note_lo = nearest_clock([c for c in clocks if c < hi], 1600.0, "1.6 GHz")
    used = rows[rows["clock_mhz"].isin([lo, hi])]
    at = used.pivot_table(index="max_batch", columns="clock_mhz",
                          values=["max_throughput_rps", "energy_per_request_j"]).dropna()
    if at.empty:
        raise NotMeasurable(f"no batch size measured at both {lo:.0f} and {hi:.0f} MHz")
    t_ratio = at[("max_throughput_rps", lo)] / at[("max_throughput_rps", hi)]
    e_ratio = at[("energy_per_request_j", lo)] / at[("energy_per_request_j", hi)]
    ok = (t_ratio >= 1 - NO_COST_TOLERANCE) & (e_ratio < 0.8)
    effect = Effect(
        _pair_operands(used, "energy_per_request_j", "max_batch", list(at.index), lo, hi),
        lambda x: 100 * np.median(_pair_ratios(x), axis=1), null=100.0)
    return Measured(
        float(e_ratio.median() * 100),
        f"{int(ok.sum())}/{len(ok)} batch sizes; medians: throughput {pct(100 * t_ratio.median())}"
        f" and energy {pct(100 * e_ratio.median())} of {hi:.0f} MHz's",
        CONSISTENT if ok.sum() > len(ok) / 2 else NOT_CONSISTENT, used,
        f"{lo:.0f} vs {hi:.0f} MHz",
        [n for n in (note_lo, note_hi) if n] + [
            ("interpretation: the paper's text lost both clock values ('running the GPUs at "
             "instead of'); 1.6 GHz vs ~2 GHz is our reading, not the paper's words"),
            "interval: of the median energy ratio (100 % = no saving)"],
        effect,
    )
