"""Measured energy of one trace replay against the planner's prediction for it.

    python -m greenllm.recommend.prediction_check --replay RAW_DIR \
        --prediction plan.prediction.json --out check.json

The replay is one fixed-configuration trace cell (``greenllm measure workload=trace``,
pinned clock or observe mode); the prediction is ``greenllm recommend``'s for the same
trace segment on the same instance (``--replay-instance``, ``--n-gpus`` = its GPUs). The
planner prices the segment's duration (trace span / time scale), the replay's energy
window runs from the first send to the last token (the drain after the last send
included), so the check compares **mean power** (energy per second of the same load),
and reports the energies too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from greenllm import atomic
from greenllm.errors import ConfigError
from greenllm.recommend.replay_report import collect

GOAL = 0.10


def check(replay_dirs: list[str], prediction: dict[str, Any]) -> dict[str, Any]:
    policies = [p for p in collect(replay_dirs)["policies"].values() if p["policy"] == "fixed"]
    if len(policies) != 1:
        raise ConfigError(f"need exactly one fixed-configuration trace cell, found {len(policies)}")
    measured = policies[0]
    by_clock = (prediction.get("clock_only") or {}).get("static_by_clock") or {}
    label = measured["label"]
    key = label[1:] if label.startswith("f") else None
    if key is None:  # observe mode: the table's cells carry the card's own achieved clock
        if len(by_clock) != 1:
            raise ConfigError(f"observe-mode replay but the prediction has clocks {sorted(by_clock)}")
        key = next(iter(by_clock))
    if key not in by_clock:
        raise ConfigError(f"the prediction has no clock {key} (it has {sorted(by_clock)})")
    pred = by_clock[key]
    duration = prediction.get("replay_duration_s") or pred.get("duration_s")
    if not duration:
        raise ConfigError("the prediction lacks its duration (rerun greenllm recommend)")
    p_pred = pred["energy_j"] / duration
    p_meas = measured["energy_j"] / measured["window_s"]
    return {
        "simulated": prediction.get("simulated"),
        "configuration": {"instance": measured["instance"]["id"], "clock": label,
                          "prediction_clock_mhz": int(float(key))},
        "measured": {"energy_j": measured["energy_j"], "window_s": measured["window_s"],
                     "power_mean_w": p_meas, "slo_attainment": measured["slo_attainment"],
                     "n_requests": measured["n_requests"], "n_clipped": measured["n_clipped"]},
        "predicted": {"energy_j": pred["energy_j"], "energy_lo_j": pred["energy_lo_j"],
                      "energy_hi_j": pred["energy_hi_j"], "duration_s": duration,
                      "power_mean_w": p_pred, "attainment": pred["attainment"]},
        "power_error": p_pred / p_meas - 1.0,
        "energy_error_same_duration": p_pred / p_meas - 1.0,
        "within_goal": abs(p_pred / p_meas - 1.0) <= GOAL, "goal": GOAL,
        "trace": measured["trace"],
    }


def markdown(result: dict[str, Any]) -> str:
    m, p = result["measured"], result["predicted"]
    tag = " (SIMULATED)" if result.get("simulated") else ""
    return "\n".join([
        f"# Planner prediction vs a measured trace replay{tag}", "",
        f"Configuration: {result['configuration']['instance']} at {result['configuration']['clock']}"
        f" (prediction at {result['configuration']['prediction_clock_mhz']} MHz). Trace "
        f"{result['trace']['name']}: {m['n_requests']:.0f} requests ({m['n_clipped']} clipped).", "",
        "| | energy (J) | over (s) | mean power (W) | SLO attainment |", "|---|---|---|---|---|",
        f"| measured | {m['energy_j']:.0f} | {m['window_s']:.1f} | {m['power_mean_w']:.1f} | "
        f"{100 * (m['slo_attainment'] or 0):.1f} % |",
        f"| predicted | {p['energy_j']:.0f} [{p['energy_lo_j']:.0f}, {p['energy_hi_j']:.0f}] | "
        f"{p['duration_s']:.1f} | {p['power_mean_w']:.1f} | {100 * p['attainment']:.1f} % |", "",
        f"Prediction error (energy of the same duration = mean power): "
        f"{100 * result['power_error']:+.1f} % (goal: within {100 * result['goal']:.0f} %: "
        f"{'met' if result['within_goal'] else 'NOT met'}).", ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m greenllm.recommend.prediction_check")
    ap.add_argument("--replay", nargs="+", required=True)
    ap.add_argument("--prediction", required=True)
    ap.add_argument("--out", required=True, help="check.json (check.md beside it)")
    a = ap.parse_args(argv)
    result = check(a.replay, json.loads(Path(a.prediction).read_text()))
    atomic.write_json(Path(a.out), result)
    atomic.write_text(Path(a.out).with_suffix(".md"), markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
