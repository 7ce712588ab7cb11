"""`greenllm recommend` end to end on a synthetic table: outputs and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from greenllm.cli.main import main


def tiny_trace(tmp_path, rate_a=0.2, rate_b=5.0):
    rng = np.random.default_rng(0)
    times = np.concatenate([np.sort(rng.uniform(0, 300, int(rate_a * 300))),
                            np.sort(rng.uniform(300, 600, int(rate_b * 300)))])
    frame = pd.DataFrame({"t": times, "inp": rng.integers(300, 500, len(times)),
                          "out": rng.integers(60, 128, len(times))})
    path = tmp_path / "trace.csv"
    frame.to_csv(path, index=False)
    return path


def test_trace_plan_writes_every_output(tmp_path, table_path, capsys):
    trace = tiny_trace(tmp_path)
    out = tmp_path / "plans/p.md"
    rc = main(["recommend", "--table", str(table_path), "--out", str(out), "--trace", str(trace),
               "--trace-columns", "t,inp,out,s", "--window-s", "300", "--replay-instance", "8,64"])
    assert rc == 0, capsys.readouterr().err
    text = out.read_text()
    assert "SIMULATED" in text
    assert "static max performance" in text and "best static" in text and "oracle" in text
    assert "fall between measured buckets" in text  # 300-500 tokens in: between S and M
    sched = pd.read_csv(tmp_path / "plans/p.schedule.csv")
    assert len(sched) == 2
    # the quiet window runs at the lower clock, the busy one cannot
    assert sched["clock_mhz"].tolist()[0] == 1000
    clock_only = pd.read_csv(tmp_path / "plans/p.schedule_clock.csv")
    assert set(clock_only["tp"]) == {8}
    pred = json.loads((tmp_path / "plans/p.prediction.json").read_text())
    assert pred["simulated"] and set(pred["clock_only"]["static_by_clock"]) == {"1000", "1980"}
    assert (tmp_path / "plans/p.pareto.png").stat().st_size > 1000
    cells = pd.read_csv(tmp_path / "plans/p.cells.csv")
    assert set(cells["workload"]) == {"S-S", "M-M"}


def test_rate_and_mix_plan(tmp_path, table_path):
    out = tmp_path / "mix.md"
    assert main(["recommend", "--table", str(table_path), "--out", str(out), "--rate", "2",
                 "--mix", "S-S:0.5,M-M:0.5"]) == 0
    assert "2 req/s" in out.read_text()


def test_errors_are_one_line(tmp_path, table_path, capsys):
    out = str(tmp_path / "x.md")
    cases = [
        (["--slo-ttft-ms", "0.001", "--slo-tbt-ms", "0.001", "--rate", "1", "--mix", "M-M:1"],
         "no configuration meets the SLO"),
        (["--rate", "1", "--mix", "L-L:1"], "workload(s) L-L that the table lacks"),
        (["--rate", "1000", "--mix", "M-M:1"], "every one is over capacity"),
        (["--trace", str(tmp_path / "none.csv")], "no such file"),
    ]
    for extra, message in cases:
        rc = main(["recommend", "--table", str(table_path), "--out", out, *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and message in err[-1], err
    assert not (tmp_path / "x.md").exists()
