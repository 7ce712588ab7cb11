"""The streaming client against a real local server with programmed latencies."""

import asyncio
import itertools

import numpy as np
import pytest
from sse_test_server import Behavior

from greenllm.atomic import write_parquet
from greenllm.errors import ConfigError
from greenllm.load.client import (
    frame_to_records,
    make_session,
    records_to_frame,
    run_requests,
    run_requests_sync,
    run_sequential_sync,
)
from greenllm.load.metrics import compute_metrics

SMALL = {"id": "small", "input_tokens": 37, "output_tokens": 20}


def test_programmed_ttft_and_tbt_are_measured(sse):
    sse.server.configure(Behavior(ttft_s=0.030, tbt_s=0.004))
    # The first request of a process pays one-off costs (lazy imports, first connection).
    run_requests_sync(sse.url, "m", SMALL, [0.0], seed=2, timeout_s=10)
    records = run_requests_sync(sse.url, "m", SMALL, np.arange(6) * 0.04, seed=3,
                                timeout_s=10)
    assert all(r.ok for r in records), [r.error for r in records]
    ttft = np.array([r.first_token_s - r.send_s for r in records])
    # Measured from the client's send: programmed wait + request transfer and parsing.
    # Medians, because other processes on a 2-core machine can delay any single one.
    assert np.all(ttft >= 0.030 - 0.0005), ttft
    assert np.median(ttft) == pytest.approx(0.030, abs=0.005), ttft
    metrics = compute_metrics(records_to_frame(records))
    assert metrics.ttft_s["p50"] == pytest.approx(np.median(ttft))
    assert metrics.tbt_s["p50"] == pytest.approx(0.004, abs=0.001)
    assert metrics.tbt_s["n"] == 6 * 19
    assert metrics.tpot_s["p50"] == pytest.approx(0.004, abs=0.001)
    for r in records:
        assert len(r.token_times_s) == 20 and r.n_chunks == 20
        assert r.tokens_out == 20 and r.token_count_source == "words"
        assert r.last_token_s <= r.end_s


@pytest.mark.parametrize("prompt_format", ["text", "token_ids"])
def test_request_asks_for_exact_lengths(sse, prompt_format):
    kwargs = {} if prompt_format == "text" else {"prompt_format": prompt_format}
    records = run_requests_sync(sse.url, "my-model", SMALL, [0.0, 0.0, 0.0], seed=5,
                                timeout_s=10, **kwargs)
    assert [r.tokens_in for r in records] == [37, 37, 37]  # the server counted 37 tokens
    bodies = sse.server.bodies
    assert len(bodies) == 3
    for body in bodies:
        assert body["model"] == "my-model"
        assert body["max_tokens"] == body["min_tokens"] == 20
        assert body["ignore_eos"] is True and body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
        assert body["temperature"] == 0
        if prompt_format == "text":  # the default: words of the word-level tokenizer
            words = body["prompt"].split()
            assert len(words) == 37 and all(w[0] == "t" and 3 <= int(w[1:]) < 1000 for w in words)
            # vLLM refuses text over 6 characters per token of the context left
            assert len(body["prompt"]) <= 5 * 37
        else:
            assert len(body["prompt"]) == 37 and min(body["prompt"]) >= 3
    assert len({str(b["prompt"]) for b in bodies}) == 3  # distinct per request


def test_text_and_token_id_prompts_carry_the_same_tokens():
    from greenllm.load.model_folder import build_tokenizer
    from greenllm.load.prompts import prompt_text, prompt_token_id_batch

    ids = prompt_token_id_batch(4, 50, 32000, seed=3)
    tok = build_tokenizer(32000)
    for row in ids:
        assert tok.encode(prompt_text(row), add_special_tokens=True).ids == row.tolist()


def test_unknown_prompt_format_is_one_line_error(sse):
    with pytest.raises(ConfigError, match="prompt_format must be one of text, token_ids"):
        run_requests_sync(sse.url, "m", SMALL, [0.0], seed=1, timeout_s=10,
                          prompt_format="ids")


def test_multi_token_chunks_count_every_token(sse):
    sse.server.configure(Behavior(ttft_s=0.01, tbt_s=0.008, tokens_per_chunk=4))
    records = run_requests_sync(sse.url, "m", SMALL, [0.0, 0.02], seed=1, timeout_s=10)
    for r in records:
        assert r.ok, r.error
        assert len(r.token_times_s) == 20 and r.n_chunks == 5
        assert len(set(r.token_times_s)) == 5
    metrics = compute_metrics(records_to_frame(records))
    # Each 8 ms chunk gap is spread over its 4 tokens.
    assert metrics.tbt_s["p50"] == pytest.approx(0.002, abs=0.0005)
    assert metrics.tbt_s["n"] == 2 * 16


def test_empty_text_chunks_are_not_tokens(sse):
    sse.server.configure(Behavior(ttft_s=0.005, tbt_s=0.006, empty_chunk_every=1))
    (rec,) = run_requests_sync(sse.url, "m", SMALL, [0.0], seed=1, timeout_s=10)
    assert rec.ok, rec.error
    assert len(rec.token_times_s) == 20 and rec.n_chunks == 20 + 19
    metrics = compute_metrics(records_to_frame([rec]))
    assert metrics.tbt_s["p50"] == pytest.approx(0.006, abs=0.001)
    # vLLM bench's view (one token per chunk) would count the empty chunks.
    (chunky,) = run_requests_sync(sse.url, "m", SMALL, [0.0], seed=1, timeout_s=10,
                                  tokens_per_chunk="chunks")
    assert len(chunky.token_times_s) == 39 and chunky.token_count_source == "chunks"


def test_token_ids_count_tokens_whose_text_is_empty(sse):
    sse.server.configure(Behavior(include_token_ids=True, special_token_positions=(0, 7)))
    (auto,) = run_requests_sync(sse.url, "m", SMALL, [0.0], seed=1, timeout_s=10)
    assert auto.ok and auto.token_count_source == "token_ids"
    assert len(auto.token_times_s) == 20
    (words,) = run_requests_sync(sse.url, "m", SMALL, [0.0], seed=1, timeout_s=10,
                                 tokens_per_chunk="words")
    assert len(words.token_times_s) == 18 and words.token_count_source == "words"


def test_failures_are_recorded_per_request_and_the_run_goes_on(sse):
    def behavior(body, number):
        if number == 1:
            return Behavior(status=500)
        if number == 2:
            return Behavior(tbt_s=0.001, close_after_tokens=5)
        return Behavior(tbt_s=0.001)

    sse.server.configure(behavior)
    records = run_requests_sync(sse.url, "m", SMALL, [0.0, 0.05, 0.10, 0.15], seed=1,
                                timeout_s=10)
    assert [r.ok for r in records] == [True, False, False, True]
    assert records[1].http_status == 500 and records[1].error.startswith("HTTP 500")
    cut = records[2]
    assert cut.http_status == 200 and cut.error and "\n" not in cut.error
    assert len(cut.token_times_s) == 5
    metrics = compute_metrics(records_to_frame(records))
    assert (metrics.n_ok, metrics.n_failed) == (2, 2)
    assert metrics.ttft_s["n"] == 2


def test_connection_refused_is_recorded(closed_port_url):
    records = run_requests_sync(closed_port_url, "m", SMALL, [0.0, 0.01], seed=1, timeout_s=5)
    assert [r.ok for r in records] == [False, False]
    assert all(r.http_status == 0 and r.error for r in records)
    assert all(r.token_times_s == [] for r in records)


def test_timeout_is_recorded(sse):
    sse.server.configure(Behavior(ttft_s=1.0))
    (rec,) = run_requests_sync(sse.url, "m", SMALL, [0.0], seed=1, timeout_s=0.2)
    assert not rec.ok and rec.error == "timeout after 0.2 s"
    assert rec.end_s - rec.send_s == pytest.approx(0.2, abs=0.1)


def test_sends_follow_the_absolute_schedule_even_when_responses_are_slow(sse):
    # Responses take 150 ms; an open-loop client still sends every 10 ms.
    sse.server.configure(Behavior(ttft_s=0.15))
    offsets = np.arange(20) * 0.01
    records = run_requests_sync(sse.url, "m", SMALL, offsets, seed=1, timeout_s=10)
    sends = np.array([r.send_s for r in records])
    assert np.all(np.abs((sends - sends[0]) - offsets) < 0.01)
    lateness = np.array([r.lateness_s for r in records])
    assert np.all(lateness >= 0) and np.median(lateness) < 0.005
    assert [r.scheduled_offset_s for r in records] == pytest.approx(offsets.tolist())


def test_sequential_requests_never_overlap(sse):
    sse.server.configure(Behavior(ttft_s=0.005, tbt_s=0.001))
    records = run_sequential_sync(sse.url, "m", SMALL, 4, seed=2, timeout_s=5, gap_s=0.01)
    assert all(r.ok for r in records)
    for before, after in itertools.pairwise(records):
        assert after.send_s >= before.end_s + 0.009


def test_records_survive_parquet(sse, tmp_path):
    sse.server.configure(Behavior(tbt_s=0.001))
    records = run_requests_sync(sse.url, "m", SMALL, [0.0, 0.01], seed=1, timeout_s=10)
    path = tmp_path / "requests.parquet"
    write_parquet(path, records_to_frame(records))
    import pandas as pd

    assert frame_to_records(pd.read_parquet(path)) == records


def test_progress_and_shared_session(sse):
    seen = []

    async def main():
        session = make_session()
        try:
            first = await run_requests(sse.url, "m", SMALL, [0.0, 0.0], seed=1, timeout_s=5,
                                       session=session, on_progress=lambda d, t: seen.append(
                                           (d, t)))
            second = await run_requests(sse.url, "m", SMALL, [0.0], seed=2, timeout_s=5,
                                        session=session)
        finally:
            await session.close()
        return first + second

    records = asyncio.run(main())
    assert all(r.ok for r in records)
    assert seen == [(1, 2), (2, 2)]


@pytest.mark.parametrize("kwargs, match", [
    ({"offsets_s": [0.2, 0.1]}, "non-decreasing"),
    ({"offsets_s": []}, "non-empty"),
    ({"offsets_s": [0.0], "tokens_per_chunk": "bytes"}, "tokens_per_chunk"),
    ({"offsets_s": [0.0], "timeout_s": 0}, "timeout_s"),
])
def test_bad_arguments_fail_before_sending(sse, kwargs, match):
    args = {"seed": 1, "timeout_s": 5.0} | kwargs
    with pytest.raises(ConfigError, match=match):
        run_requests_sync(sse.url, "m", SMALL, **args)
    with pytest.raises(ConfigError, match="http"):
        run_requests_sync("localhost:8000", "m", SMALL, [0.0], seed=1, timeout_s=5)
    assert sse.server.requests_seen == 0
