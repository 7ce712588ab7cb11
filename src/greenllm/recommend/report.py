"""The planner's outputs: per-cell optimum table, schedule CSVs, Pareto figure, markdown."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from greenllm import atomic
from greenllm.recommend.cells import CellModel, Config, power_at
from greenllm.recommend.load import Window, mix_window
from greenllm.recommend.planner import Planner, Strategy, instances, saving

LOAD_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 0.9)  # of the node's best capacity for a workload


def per_cell_table(planner: Planner) -> pd.DataFrame:
    """For each workload and load (fractions of the best node capacity): the optimum."""
    rows = []
    workloads = sorted({w for cells in planner.by_config.values() for w in cells})
    for wid in workloads:
        caps = {c: cells[wid].capacity_rps * instances(c, planner.costs)
                for c, cells in planner.by_config.items() if wid in cells}
        top = max(caps.values())
        shape = next(cells[wid] for cells in planner.by_config.values() if wid in cells)
        for frac in LOAD_FRACTIONS:
            rate = frac * top
            w = mix_window(rate, {wid: 1.0}, [_shape(shape)], duration_s=3600.0)
            options = planner.options(w)
            best = planner.best(options)
            n_ok = sum(o.feasible for o in options)
            tokens = w.output_tokens
            rows.append({
                "workload": wid, "load_fraction_of_max": frac, "node_rate_rps": rate,
                "tp": best.config.tp, "max_batch": best.config.max_batch,
                "clock_mhz": best.config.clock_mhz,
                "instances": instances(best.config, planner.costs),
                "energy_per_token_j": best.energy_j / tokens,
                "energy_per_token_lo_j": best.energy_lo_j / tokens,
                "energy_per_token_hi_j": best.energy_hi_j / tokens,
                "predicted_slo_attainment": best.attainment, "feasible_configs": n_ok,
                "notes": ";".join(sorted(best.notes)),
            })
    return pd.DataFrame(rows)


def _shape(m: CellModel) -> Any:
    from greenllm.recommend.load import WorkloadShape

    return WorkloadShape(m.workload_id, m.input_tokens, m.output_tokens)


def pareto_frame(planner: Planner) -> pd.DataFrame:
    """Per (config, workload): node max throughput under the SLO and energy per token at
    the highest SLO-holding point, with whether it is on the Pareto front."""
    rows = []
    for cfg, cells in planner.by_config.items():
        k = instances(cfg, planner.costs)
        for wid, m in cells.items():
            p = power_at(m, m.rates_rps[-1])
            ept = p.mid / (m.rates_rps[-1] * m.output_tokens)
            rows.append({"workload": wid, "config": cfg.label, "tp": cfg.tp,
                         "max_batch": cfg.max_batch, "clock_mhz": cfg.clock_mhz,
                         "node_max_rps": m.capacity_rps * k, "energy_per_token_j": ept})
    frame = pd.DataFrame(rows)
    frame["pareto"] = False
    for _, g in frame.groupby("workload"):
        best = math.inf
        for i in g.sort_values(["node_max_rps", "energy_per_token_j"],
                               ascending=[False, True]).index:
            if frame.at[i, "energy_per_token_j"] < best:
                frame.at[i, "pareto"] = True
                best = frame.at[i, "energy_per_token_j"]
    return frame


def pareto_figure(frame: pd.DataFrame, path: Path, simulated: bool, footnote: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted(frame["workload"].unique())
    ncol = min(3, len(workloads))
    nrow = math.ceil(len(workloads) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3.2 * nrow), squeeze=False)
    for ax, wid in zip(axes.flat, workloads, strict=False):
        g = frame[frame["workload"] == wid]
        for tp, gg in g.groupby("tp"):
            ax.scatter(gg["node_max_rps"], gg["energy_per_token_j"], s=18, label=f"TP{tp}")
        front = g[g["pareto"]].sort_values("node_max_rps")
        ax.plot(front["node_max_rps"], front["energy_per_token_j"], "k--", lw=1)
        ax.set_title(wid, fontsize=9)
        ax.set_xlabel("node max throughput under SLO (req/s)", fontsize=8)
        ax.set_ylabel("J per output token", fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(workloads):]:
        ax.axis("off")
    fig.suptitle("Energy per token vs max throughput under the SLO"
                 + (" (SIMULATED)" if simulated else ""), fontsize=10)
    if footnote:  # out-of-grid and clipped requests are stated in the figure too
        fig.text(0.01, 0.005, footnote, fontsize=6, ha="left", va="bottom", wrap=True)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    else:
        fig.tight_layout()
    with atomic.atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def schedule_frame(strategy: Strategy) -> pd.DataFrame:
    rows = []
    for s in strategy.steps:
        e = s.estimate
        rows.append({
            "window": s.window.index, "window_start_s": s.window.start_s,
            "window_end_s": s.window.end_s, "n_requests": s.window.n_requests,
            "rate_rps": s.window.rate_rps, "tp": e.config.tp, "max_batch": e.config.max_batch,
            "clock_mhz": e.config.clock_mhz, "utilisation": e.utilisation,
            "energy_j": e.energy_j, "energy_lo_j": e.energy_lo_j, "energy_hi_j": e.energy_hi_j,
            "predicted_slo_attainment": e.attainment, "change": s.change,
            "change_energy_j": s.change_energy_j, "notes": ";".join(sorted(e.notes)),
        })
    return pd.DataFrame(rows)


def strategies_frame(plan: Strategy, baselines: list[Strategy]) -> pd.DataFrame:
    rows = []
    for st in [plan, *baselines]:
        s = saving(plan, st)
        rows.append({
            "strategy": st.name, "energy_kj": st.energy_j / 1e3,
            "energy_lo_kj": st.energy_lo_j / 1e3, "energy_hi_kj": st.energy_hi_j / 1e3,
            "j_per_token": st.energy_j / st.output_tokens if st.output_tokens else math.nan,
            "slo_attainment": st.attainment, "restarts": st.n_restarts,
            "clock_changes": st.n_clock_changes, "over_capacity_windows": st.over_capacity_windows,
            "plan_saving": s[0], "plan_saving_lo": s[1], "plan_saving_hi": s[2],
        })
    return pd.DataFrame(rows)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(title: str, *, simulated: bool, source: str, slo_text: str, load_text: str,
             fit_lines: list[str], costs_text: str, per_cell: pd.DataFrame,
             strategies: pd.DataFrame, schedule: pd.DataFrame, clock_only: pd.DataFrame | None,
             excluded: list[str], figure_name: str, command: str, n_gpus: int,
             replay_md: str | None = None) -> str:
    tag = " (SIMULATED)" if simulated else ""
    lines = [f"# {title}{tag}", "",
             f"Produced by `{command}`.", "",
             f"Input cells: {source}." + (" **Every number here comes from the simulator "
                                          "(greenllm.sim), not from a GPU: SIMULATED.**"
                                          if simulated else ""), "",
             f"SLO: {slo_text}. Only configurations whose SLO holds at the upper end of their "
             "95 % interval count.", "", f"Load: {load_text}.", ""]
    if fit_lines:
        lines += ["## Out-of-grid requests", ""] + [f"- {x}" for x in fit_lines] + [""]
    lines += ["## Savings of the schedule against the baselines", "",
              "Energy over the whole load; the interval pairs the CI ends of each side "
              "conservatively (schedule high vs baseline low, and back); SLO attainment is "
              "the predicted share of requests within the SLO.", "",
              "| strategy | energy (kJ) [95 % CI] | J/token | SLO attainment | restarts | "
              "clock changes | over-capacity windows | schedule's saving [interval] |",
              "|---|---|---|---|---|---|---|---|"]
    for _, r in strategies.iterrows():
        saving_txt = "—" if r.name == 0 else (
            f"{_pct(r['plan_saving'])} [{_pct(r['plan_saving_lo'])}, {_pct(r['plan_saving_hi'])}]")
        lines.append(f"| {r['strategy']} | {r['energy_kj']:.1f} [{r['energy_lo_kj']:.1f}, "
                     f"{r['energy_hi_kj']:.1f}] | {r['j_per_token']:.3f} | "
                     f"{_pct(r['slo_attainment'])} | {r['restarts']} | {r['clock_changes']} | "
                     f"{r['over_capacity_windows']} | {saving_txt} |")
    lines += ["", f"Reconfiguration costs: {costs_text}.", "", "## Schedule", "",
              "| window | trace s | req | req/s | TP | batch | clock MHz | util | energy kJ | "
              "attain | change | notes |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in schedule.iterrows():
        lines.append(f"| {r['window']} | {r['window_start_s']:.0f}-{r['window_end_s']:.0f} | "
                     f"{r['n_requests']} | {r['rate_rps']:.2f} | {r['tp']} | {r['max_batch']} | "
                     f"{r['clock_mhz']} | {r['utilisation']:.2f} | {r['energy_j'] / 1e3:.1f} | "
                     f"{_pct(r['predicted_slo_attainment'])} | {r['change'] or '—'} | "
                     f"{r['notes'] or ''} |")
    if clock_only is not None:
        lines += ["", "Clock-only schedule for the replayed instance (what a running engine "
                  "can apply without a restart): "
                  + ", ".join(f"w{r['window']}: {r['clock_mhz']}" for _, r in clock_only.iterrows())]
    lines += ["", "## Energy-optimal configuration per workload and load", "",
              f"A node of {n_gpus} GPUs; load as a fraction of the best configuration's node "
              "capacity for that workload; J/token with its 95 % interval.",
              "", "| workload | load | req/s | TP | batch | clock MHz | instances | J/token "
              "[95 % CI] | attain | feasible configs | notes |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in per_cell.iterrows():
        lines.append(f"| {r['workload']} | {r['load_fraction_of_max']:.2f} | {r['node_rate_rps']:.2f} "
                     f"| {r['tp']} | {r['max_batch']} | {r['clock_mhz']} | {r['instances']} | "
                     f"{r['energy_per_token_j']:.3f} [{r['energy_per_token_lo_j']:.3f}, "
                     f"{r['energy_per_token_hi_j']:.3f}] | {_pct(r['predicted_slo_attainment'])} "
                     f"| {r['feasible_configs']} | {r['notes']} |")
    lines += ["", f"![Pareto: energy per token vs max throughput under SLO]({figure_name})", "",
              "Notes: `below_lowest_point` / `above_highest_point`: the load lies outside the "
              "measured load points and an upper bound was used (never an extrapolation); "
              "`over_capacity`: beyond every configuration's SLO capacity; `no_ci`: fewer than "
              "3 repeats, no interval.", ""]
    if excluded:
        lines += ["## Cells that are not candidates", ""] + [f"- {x}" for x in excluded[:40]]
        if len(excluded) > 40:
            lines.append(f"- ... and {len(excluded) - 40} more")
        lines.append("")
    if replay_md:
        lines += [replay_md, ""]
    return "\n".join(lines)


def describe_config(c: Config) -> str:
    return c.label


def window_list_text(windows: list[Window]) -> str:
    return f"{len(windows)} windows"
