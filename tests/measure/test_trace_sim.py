"""`greenllm measure workload=trace` end to end on the simulated GPU + engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from tests.measure.test_run_sim import measure

from greenllm.analysis.cells import load_summary
from greenllm.gpu.sim import SimGpu


def tiny_trace(tmp_path: Path, n: int = 24) -> Path:
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.exponential(0.08, n))
    lines = ["arrival,prompt,out"] + [
        f"{x:.3f},{int(rng.integers(40, 200))},{int(rng.integers(4, 30))}" for x in t]
    lines[3] = f"{t[2]:.3f},3000,20"  # longer than the 2048-token context below: clipped
    path = tmp_path / "tiny.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def trace_args(path: Path, *extra: str) -> list[str]:
    return ["workload=trace", f"workload.trace.path={path}", "workload.trace.name=tiny",
            "workload.trace.columns.timestamp=arrival", "workload.trace.columns.input_tokens=prompt",
            "workload.trace.columns.output_tokens=out", "workload.trace.columns.timestamp_unit=s",
            "workload.trace.start_s=0", "workload.trace.duration_s=null",
            "workload.trace.time_scale=1", "engine.max_model_len=2048",
            "workload.trace.slo_ttft_s=0.5", "workload.trace.slo_tbt_s=0.05", *extra]


def test_trace_replay_writes_cells_with_trace_fields(tmp_path):
    path = tiny_trace(tmp_path)
    run = measure(tmp_path, *trace_args(path), "clocks.mhz=[1980]")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "1/24 requests clipped to the 2048-token context" in run.stderr
    cell = tmp_path / "raw/cells/f1980/tiny"
    s = load_summary(cell / "summary.json")  # the analysis schema holds
    lp = s["load_points"][0]
    assert s["status"] == "ok" and lp["name"] == "trace" and lp["n_requests"] == 24
    assert lp["energy"]["energy_j"] > 0 and "trace_clipped" in lp["flags"]
    assert s["trace"]["n_clipped"] == 1
    frame = pd.read_parquet(cell / "requests.r0.parquet")
    src = pd.read_csv(path)
    # exact lengths sent (the server's own count), the clipped one within the context
    assert frame["tokens_in"].tolist()[:2] == src["prompt"].tolist()[:2]
    assert frame["trace_input_tokens"].tolist() == src["prompt"].tolist()
    assert frame.loc[2, "trace_clipped"] and frame.loc[2, "tokens_in"] + 20 <= 2048
    assert (frame["tokens_out"] == frame["output_tokens_requested"]).all()
    # sends follow the trace's own gaps
    gaps = np.diff(frame["scheduled_offset_s"].to_numpy())
    assert np.allclose(gaps, np.diff(src["arrival"].to_numpy()), atol=1e-6)


def test_bad_trace_fails_before_any_engine(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival,prompt,out\n1,10,5\n0,10,5\n")
    run = measure(tmp_path, *trace_args(bad), "clocks.mhz=[1980]")
    assert run.returncode == 2
    assert "out of time order at data row 2" in run.stderr
    assert not (tmp_path / "raw/engine.log").exists()


def test_trace_replay_in_several_engine_starts_is_one_line(tmp_path):
    run = measure(tmp_path, *trace_args(tiny_trace(tmp_path)), "clocks.mhz=[1980]",
                  "load.repeats=2", "load.engine_starts=2")
    assert run.returncode == 2, run.stderr[-2000:]
    assert "a trace replay runs in one engine start" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "raw/engine.log").exists()


def test_feedback_policy_moves_the_clock_and_restores_it(tmp_path):
    path = tiny_trace(tmp_path, n=60)
    run = measure(tmp_path, *trace_args(path, "workload.trace.policy.kind=feedback",
                                        "workload.trace.policy.period_s=0.3",
                                        "workload.trace.policy.window_requests=10",
                                        "workload.trace.slo_ttft_s=5", "workload.trace.slo_tbt_s=1"),
                  "clocks.mhz=[990,1980]")
    assert run.returncode == 0, run.stderr[-2000:]
    s = json.loads((tmp_path / "raw/cells/feedback/tiny/summary.json").read_text())
    log = s["load_points"][0]["clock_log"]
    # generous SLO: the controller steps down from the top clock, each change verified
    assert log[0]["mhz"] == 1980 and len(log) > 1 and log[-1]["mhz"] < 1980
    assert all(e["verified"] is not False for e in log)
    # one entry per real change: never the same clock twice in a row (990 requested
    # snaps to a nearby supported clock; that must not count as a change every period)
    assert all(a["mhz"] != b["mhz"] for a, b in zip(log, log[1:], strict=False))
    frame = pd.read_parquet(tmp_path / "raw/cells/feedback/tiny/requests.r0.parquet")
    assert frame["clock_at_send_mhz"].nunique() > 1
    gpu = SimGpu.open(tmp_path / "raw/simgpu.state")
    assert gpu.locked_sm_clock_mhz(0) is None  # restored after the replay


def test_slo_request_fits_the_context(tmp_path):
    from greenllm.load.trace import TraceColumns, TraceSpec, load_trace
    from greenllm.measure.trace_run import slo_workload

    path = tmp_path / "t.csv"
    # long prompts with short outputs and short prompts with long outputs: each p90 alone
    # fits 1000 tokens, together they would not
    rows = [f"{i},{900 if i % 2 else 50},{40 if i % 2 else 900}" for i in range(20)]
    path.write_text("t,inp,out\n" + "\n".join(rows) + "\n")
    trace = load_trace(TraceSpec(str(path), TraceColumns("t", "inp", "out", "s"),
                                 max_context_tokens=1000))
    w = slo_workload(trace, 0.9)
    assert w.input_tokens + w.output_tokens <= 1000 and w.output_tokens == 900
    assert slo_workload(trace, 0.5).id.endswith("-p50")


def test_a_trace_replayed_under_other_settings_is_replayed_afresh(tmp_path):
    # measure.measured_settings: the same replay resumes; a time-scaled one does not
    path = tiny_trace(tmp_path, n=12)
    first = measure(tmp_path, *trace_args(path), "clocks.mhz=[1980]")
    assert first.returncode == 0, first.stderr[-2000:]
    same = measure(tmp_path, *trace_args(path), "clocks.mhz=[1980]")
    assert same.returncode == 0 and not (tmp_path / "raw/superseded").exists()
    other = measure(tmp_path, *trace_args(path, "workload.trace.time_scale=2"),
                    "clocks.mhz=[1980]")
    assert other.returncode == 0, other.stderr[-2000:]
    assert "measured under other settings (workload.trace.time_scale)" in other.stderr
    (aside,) = (tmp_path / "raw/superseded").rglob("summary.json")
    assert load_summary(aside)["status"] == "ok"
    new = load_summary(tmp_path / "raw/cells/f1980/tiny/summary.json")
    assert new["measured_settings"]["values"]["workload"]["trace"]["time_scale"] == 2
