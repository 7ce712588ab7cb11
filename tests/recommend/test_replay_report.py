"""Replay results beside predictions: collection, markdown, prediction error."""

from __future__ import annotations

import json

import pytest

from greenllm.errors import ConfigError
from greenllm.recommend.prediction_check import check
from greenllm.recommend.replay_report import collect, replay_markdown

TRACE = {"name": "t", "path": "t.csv", "start_s": 0.0, "time_scale": 60.0, "rate_scale": 0.1,
         "n_requests": 100, "n_clipped": 3}


def write_cell(root, label, kind, energy_j, window_s, attainment, clocks=(1980,)):
    d = root / "cells" / label / "t"
    d.mkdir(parents=True)
    summary = {
        "schema": "greenllm.cell/1", "status": "ok", "simulated": True,
        "instance": {"id": "m_tp8_b64", "model": "m", "tp": 8, "max_batch": 64, "engine": "sim"},
        "clock": {"label": label, "mode": "pin"}, "workload": {"id": "t"},
        "slo": {"ttft_s": 0.5, "tbt_s": 0.05, "percentile": 90.0, "scale": 3.0},
        "trace": TRACE, "policy": {"kind": kind},
        "load_points": [{"name": "trace", "repeat": 0, "slo_attainment": attainment,
                         "n_requests": 100, "n_clipped": 3,
                         "energy": {"energy_j": energy_j, "window_s": window_s,
                                    "energy_per_output_token_j": energy_j / 1e4},
                         "clock_log": [{"t_s": i, "mhz": c, "verified": True}
                                       for i, c in enumerate(clocks)]}],
    }
    (d / "summary.json").write_text(json.dumps(summary))


def test_policies_beside_predictions(tmp_path):
    write_cell(tmp_path, "f1980", "fixed", 1000.0, 60.0, 0.99)
    write_cell(tmp_path, "schedule", "schedule", 800.0, 60.0, 0.97, clocks=(1980, 1400, 1980))
    write_cell(tmp_path, "feedback", "feedback", 700.0, 60.0, 0.9, clocks=(1980, 1400, 1000))
    replay = collect([str(tmp_path)])
    assert replay["policies"]["schedule"]["clock_changes"] == 2
    prediction = {"clock_only": {"energy_j": 850.0, "static_by_clock": {"1980": {"energy_j": 1000.0}}}}
    md = replay_markdown(replay, prediction)
    assert "(SIMULATED)" in md
    assert "| schedule (schedule) | 0.80 |" in md and "20.0 %" in md  # measured saving
    assert "15.0 %" in md  # predicted saving 1 - 850/1000
    assert "30.0 %" in md  # feedback measured


def test_prediction_error_is_on_mean_power(tmp_path):
    write_cell(tmp_path, "f1980", "fixed", 1100.0, 55.0, 0.99)  # 20 W measured
    pred = {"replay_duration_s": 50.0, "simulated": True,
            "clock_only": {"static_by_clock": {"1980": {
                "energy_j": 1050.0, "energy_lo_j": 1000.0, "energy_hi_j": 1100.0,
                "attainment": 1.0}}}}
    result = check([str(tmp_path)], pred)
    assert result["power_error"] == pytest.approx(21.0 / 20.0 - 1)
    assert result["within_goal"]
    pred["clock_only"]["static_by_clock"] = {"1400": pred["clock_only"]["static_by_clock"]["1980"]}
    with pytest.raises(ConfigError, match="no clock 1980"):
        check([str(tmp_path)], pred)
