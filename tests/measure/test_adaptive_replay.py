"""The adaptive policy replayed on a fixed run: its stop, its intervals, its spend."""

from __future__ import annotations

import json

import numpy as np
import pytest

from greenllm import atomic
from greenllm.measure.adaptive import repeat_policy
from greenllm.measure.adaptive_replay import main, replay
from greenllm.measure.spend import SpendLedger, write_spend


def _summary(label: str, wid: str, cv: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    points = [{"name": "medium", "repeat": r, "rate_rps": 2.0, "duration_s": 10.0,
               "ttft_s": {"p50": float(0.1 * (1 + cv * rng.standard_normal()))}}
              for r in range(5)]
    return {"clock": {"label": label}, "workload": {"id": wid}, "status": "ok",
            "repeats_done": 5, "load_points": points}


def test_tight_cell_stops_early_noisy_cell_runs_to_the_cap(tmp_path, capsys):
    raw = tmp_path / "raw"
    atomic.write_json(raw / "cells/native/S-S/summary.json", _summary("native", "S-S", 0.002, 1))
    atomic.write_json(raw / "cells/native/L-L/summary.json", _summary("native", "L-L", 0.3, 2))
    ledger = SpendLedger(gpus=1, held_s=200.0, window_s=120.0, engine_starts=1)
    write_spend(raw, ledger, None)
    policy = repeat_policy(None, {"ttft_p50_s": 0.05}, 5)
    out = replay(raw, policy)
    cells = {c["workload"]: c for c in out["cells"]}
    assert cells["S-S"]["repeats_adaptive"] == 3 and cells["S-S"]["adaptive_stop"] == "targets_met"
    assert cells["L-L"]["repeats_adaptive"] == 5 and cells["L-L"]["adaptive_stop"] == "cap"
    assert cells["S-S"]["dropped_window_s"] == 20.0 and cells["L-L"]["dropped_window_s"] == 0.0
    assert cells["S-S"]["half_width_adaptive"]["medium/ttft_p50_s"] <= 0.05
    spend = out["spend"]["adaptive_upper_bound"]
    assert spend["held_s"] == 180.0 and spend["fraction_of_fixed"] == pytest.approx(0.9)
    assert main([str(raw), "--targets", "ttft_p50_s=0.05", "--json", str(tmp_path / "r.json")]) == 0
    assert "adaptive (replayed, upper bound): 180 GPU-s held (90% of fixed)" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["spend"]["fixed"]["held_s"] == 200.0


def test_bad_replay_input_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no cells" in capsys.readouterr().err
    atomic.write_json(tmp_path / "cells/a/b/summary.json", _summary("a", "b", 0.1, 0))
    assert main([str(tmp_path), "--targets", "ttft_p50_s=0"]) == 2
    assert "must be a relative half-width > 0" in capsys.readouterr().err


def test_per_point_replay_drops_only_the_steady_points_later_repeats(tmp_path):
    steady = _summary("native", "M-M", 0.002, 3)
    noisy = _summary("native", "M-M", 0.3, 4)["load_points"]
    for p in noisy:
        p["name"] = "high"
    steady["load_points"] += noisy
    atomic.write_json(tmp_path / "cells/native/M-M/summary.json", steady)
    per_point = replay(tmp_path, repeat_policy(None, {"ttft_p50_s": 0.05}, 5, "point"))["cells"][0]
    assert per_point["point_repeats"] == {"medium": 3, "high": 5}
    assert per_point["repeats_adaptive"] == 5 and per_point["adaptive_stop"] == "cap"
    assert per_point["dropped_window_s"] == 20.0  # medium's repeats 4 and 5
    per_cell = replay(tmp_path, repeat_policy(None, {"ttft_p50_s": 0.05}, 5, "cell"))["cells"][0]
    assert per_cell["point_repeats"] == {"medium": 5, "high": 5}
    assert per_cell["dropped_window_s"] == 0.0
