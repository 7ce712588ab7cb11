"""Measured policy replays beside the planner's predictions.

``collect`` reads the trace cells of a replay run (``greenllm measure workload=trace``
under the fixed, schedule and feedback policies) into one JSON record per policy:
measured energy, SLO attainment, clock changes. ``replay_markdown`` puts it in the plan
next to what the planner predicted for the same instance and load.

    python -m greenllm.recommend.replay_report --cells RAW_DIR --out replay.json
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from greenllm import atomic
from greenllm.analysis.cells import find_cell_files, load_summary
from greenllm.errors import ConfigError


def collect(paths: list[str]) -> dict[str, Any]:
    policies: dict[str, Any] = {}
    simulated = False
    for f in find_cell_files(paths):
        s = load_summary(f)
        if "trace" not in s:
            continue
        simulated |= bool(s.get("simulated"))
        label = s["clock"]["label"]
        for lp in s.get("load_points") or []:
            e = lp.get("energy") or {}
            tokens = None
            if e.get("energy_j") and e.get("energy_per_output_token_j"):
                tokens = e["energy_j"] / e["energy_per_output_token_j"]
            policies[label] = {
                "policy": (s.get("policy") or {}).get("kind", "fixed"), "label": label,
                "status": s["status"], "energy_j": e.get("energy_j"),
                "window_s": e.get("window_s"), "power_mean_w": e.get("power_mean_w"),
                "energy_per_output_token_j": e.get("energy_per_output_token_j"),
                "output_tokens": tokens, "slo_attainment": lp.get("slo_attainment"),
                "n_requests": lp.get("n_requests"), "n_clipped": lp.get("n_clipped"),
                "clock_changes": max(0, len(lp.get("clock_log") or []) - 1),
                "clocks_mhz": sorted({c["mhz"] for c in lp.get("clock_log") or []
                                      if c.get("mhz") is not None}),
                "flags": lp.get("flags") or [], "slo": s.get("slo"), "trace": s["trace"],
                "instance": s["instance"],
            }
    if not policies:
        raise ConfigError(f"no trace cells under {', '.join(paths)}")
    return {"simulated": simulated, "policies": policies}


def _pct(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.1f} %"


def replay_markdown(replay: dict[str, Any], prediction: dict[str, Any]) -> str:
    pol = replay["policies"]
    fixed = [p for p in pol.values() if p["policy"] == "fixed"]
    if not fixed:
        raise ConfigError("the replay has no fixed-clock cell to compare the policies with")
    ref = max(fixed, key=lambda p: int(p["label"][1:]) if p["label"][1:].isdigit() else 0)
    clock_only = prediction.get("clock_only") or {}
    by_clock = clock_only.get("static_by_clock") or {}
    pred_ref = by_clock.get(ref["label"][1:], {}).get("energy_j")
    tag = " (SIMULATED)" if replay.get("simulated") else ""
    any_trace = next(iter(pol.values()))
    t, inst = any_trace["trace"], any_trace["instance"]
    lines = [f"## Policies replayed as measured treatments{tag}", "",
             f"Trace {t['name']}: {t['n_requests']} requests ({t['n_clipped']} clipped to the "
             f"context), trace seconds {t['start_s']:g}+ played x{t['time_scale']:g} faster at "
             f"rate x{t['rate_scale']:g}, on {inst['id']} ({inst['engine']} engine, "
             f"{'simulated' if replay.get('simulated') else 'real'} GPUs with pinning: every "
             "clock change verified, clocks restored after each replay). One replay per "
             "policy (no interval). Energy: whole replay, first send to last token. SLO: the "
             f"trace's ({_slo_text(any_trace['slo'])}).", "",
             "| policy | measured energy (kJ) | J/token | SLO attainment | clock changes | "
             "clocks used (MHz) | saving vs fixed max clock: measured | planner's predicted "
             "energy (kJ) | predicted saving |",
             "|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(pol.values(), key=lambda p: (p["policy"] != "fixed", p["label"])):
        measured = 1 - p["energy_j"] / ref["energy_j"] if p["energy_j"] and ref["energy_j"] else None
        pred = None
        if p["policy"] == "fixed":
            pred = by_clock.get(p["label"][1:], {}).get("energy_j")
        elif p["policy"] == "schedule":
            pred = clock_only.get("energy_j")
        pred_saving = 1 - pred / pred_ref if pred and pred_ref else None
        lines.append(
            f"| {p['policy']} ({p['label']}) | {p['energy_j'] / 1e3:.2f} | "
            f"{(p['energy_per_output_token_j'] or math.nan):.3f} | {_pct(p['slo_attainment'])} "
            f"| {p['clock_changes']} | {', '.join(map(str, p['clocks_mhz']))} | "
            f"{_pct(measured) if p is not ref else '(reference)'} | "
            f"{'—' if pred is None else f'{pred / 1e3:.2f}'} | "
            f"{_pct(pred_saving) if p is not ref else '(reference)'} |")
    lines += ["", "The feedback controller has no prediction (it reacts to measured latency). "
              "The planner's predictions price the replayed instance over the same windows "
              "from the table's cells; measured and predicted energy differ where the "
              "replay's requests differ from the cells' buckets (see Out-of-grid requests) "
              "and by the replay's drain after the last send."]
    return "\n".join(lines)


def _slo_text(slo: dict[str, Any] | None) -> str:
    if not slo:
        return "none"
    return f"TTFT <= {slo['ttft_s'] * 1e3:.0f} ms, TBT <= {slo['tbt_s'] * 1e3:.1f} ms at p{slo['percentile']:g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m greenllm.recommend.replay_report")
    p.add_argument("--cells", nargs="+", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    atomic.write_json(Path(a.out), collect(a.cells))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
