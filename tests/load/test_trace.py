"""Trace workloads: parsing, window, scaling, clipping and every bad input (one line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from greenllm.errors import ConfigError
from greenllm.load.trace import TraceColumns, TraceSpec, clip_lengths, load_trace

ROOT = Path(__file__).resolve().parents[2]
AZURE_CONV = ROOT / "data/traces/AzureLLMInferenceTrace_conv.csv"
SECONDS = TraceColumns("t", "inp", "out", "s")


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "trace.csv"
    p.write_text(text)
    return str(p)


def test_azure_window_time_scale_and_attribution_kept():
    trace = load_trace(TraceSpec(str(AZURE_CONV), start_s=600, duration_s=300, time_scale=10))
    # every request lies in the window, in order, played ten times faster
    assert (trace.trace_time_s >= 600).all() and (trace.trace_time_s < 900).all()
    assert np.all(np.diff(trace.offsets_s) >= 0) and trace.offsets_s[0] == 0
    span = trace.trace_time_s[-1] - trace.trace_time_s[0]
    assert trace.replay_duration_s == pytest.approx(span / 10)
    assert trace.rows_in_file == 19366  # the README's row count
    readme = (AZURE_CONV.parent / "README.md").read_text()
    assert "Splitwise" in readme and "CC-BY 4.0" in readme
    assert (AZURE_CONV.parent / "LICENSE-CC-BY-4.0.txt").is_file()


def test_exact_lengths_and_column_mapping(tmp_path):
    path = write(tmp_path, "t,inp,out\n0.5,10,3\n1.5,20,4\n3.5,30,5\n")
    trace = load_trace(TraceSpec(path, columns=SECONDS, time_scale=2))
    assert trace.input_tokens.tolist() == [10, 20, 30]
    assert trace.output_tokens.tolist() == [3, 4, 5]
    assert trace.offsets_s.tolist() == [0.0, 0.5, 1.5]
    assert trace.n_clipped == 0


def test_clipping_to_the_context_is_counted(tmp_path):
    path = write(tmp_path, "t,inp,out\n0,100,10\n1,5000,10\n2,10,9000\n")
    trace = load_trace(TraceSpec(path, columns=SECONDS, max_context_tokens=1000))
    assert trace.n_clipped == 2
    assert trace.clipped.tolist() == [False, True, True]
    assert ((trace.input_tokens + trace.output_tokens) <= 1000).all()
    assert trace.trace_input_tokens.tolist() == [100, 5000, 10]  # originals kept
    assert trace.summary()["n_clipped"] == 2
    fields = trace.frame_fields()
    assert fields["trace_clipped"].tolist() == [False, True, True]


def test_clip_lengths_keeps_output_then_prompt():
    inp, out, clipped = clip_lengths(np.array([900, 10]), np.array([200, 5]), 1000)
    assert inp.tolist() == [800, 10] and out.tolist() == [200, 5]
    assert clipped.tolist() == [True, False]


def test_rate_scale_thins_and_repeats_seeded(tmp_path):
    rows = "".join(f"{i * 0.1:.1f},10,5\n" for i in range(1000))
    path = write(tmp_path, "t,inp,out\n" + rows)
    half = load_trace(TraceSpec(path, columns=SECONDS, rate_scale=0.5, seed=3))
    assert 400 < half.n < 600
    assert half.n == load_trace(TraceSpec(path, columns=SECONDS, rate_scale=0.5, seed=3)).n
    double = load_trace(TraceSpec(path, columns=SECONDS, rate_scale=2.0))
    assert double.n == 2000
    assert np.all(np.diff(double.offsets_s) >= 0)


@pytest.mark.parametrize("text, columns, expected", [
    ("t,inp\n0,1\n", SECONDS, "missing column(s) out"),
    ("t,inp,out\nsoon,1,1\n", SECONDS, "unparsable timestamp 'soon' at data row 1"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\nnot a date,1,1\n", TraceColumns(),
     "unparsable timestamp"),
    ("t,inp,out\n0,1,1\n1,-5,1\n", SECONDS, "negative inp -5 at data row 2"),
    ("t,inp,out\n0,1.5,1\n", SECONDS, "not a whole number"),
    ("t,inp,out\n2,1,1\n1,1,1\n", SECONDS, "out of time order at data row 2"),
    ("t,inp,out\n", SECONDS, "no rows"),
])
def test_bad_traces_fail_in_one_line(tmp_path, text, columns, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_trace(TraceSpec(path, columns=columns))
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_empty_window_fails_in_one_line(tmp_path):
    path = write(tmp_path, "t,inp,out\n0,1,1\n10,1,1\n")
    with pytest.raises(ConfigError, match="no request in the time window 2-5 s"):
        load_trace(TraceSpec(path, columns=SECONDS, start_s=2, duration_s=3))


def test_bad_scales_fail(tmp_path):
    path = write(tmp_path, "t,inp,out\n0,1,1\n")
    for spec in (TraceSpec(path, columns=SECONDS, time_scale=0),
                 TraceSpec(path, columns=SECONDS, rate_scale=-1),
                 TraceSpec(str(tmp_path / "none.csv"), columns=SECONDS)):
        with pytest.raises(ConfigError):
            load_trace(spec)
