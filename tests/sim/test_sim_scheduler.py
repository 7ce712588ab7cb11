"""Continuous batching policy: batch cap, token budget, FCFS, chunked prefill (no clocks)."""

from __future__ import annotations

import pytest

from greenllm.errors import ConfigError
from greenllm.sim import Scheduler, SimRequest, emission_schedule


def req(i: int, prompt: int = 10, out: int = 5) -> SimRequest:
    return SimRequest(f"r{i}", prompt, out)


def drain(sched: Scheduler, limit: int = 10_000):
    batches = []
    while sched.has_work():
        batches.append(sched.step())
        assert len(batches) < limit
    return batches


def test_every_request_gets_exactly_max_tokens_one_per_iteration():
    sched = Scheduler(max_num_seqs=8, max_num_batched_tokens=512)
    out = emission_schedule(sched, {0: [req(0, 100, 7)], 3: [req(1, 20, 1)]})
    assert out["r0"] == list(range(7))  # prefill iteration emits token 1, then 1/iteration
    assert out["r1"] == [3]
    assert not sched.has_work()


def test_batch_cap_is_respected_and_waiting_requests_queue():
    sched = Scheduler(max_num_seqs=4, max_num_batched_tokens=10_000)
    for i in range(10):
        sched.add(req(i, 10, 5))
    batches = drain(sched)
    assert max(b.num_seqs for b in batches) == 4
    first = {}
    for b in batches:
        for r in b.emitted:
            first.setdefault(r.request_id, b.index)
    # r0..r3 start at once; r4 only after a slot frees up (the first 4 finish at index 4)
    assert [first[f"r{i}"] for i in range(4)] == [0, 0, 0, 0]
    assert first["r4"] == 5


def test_token_budget_is_respected_and_long_prompts_are_chunked():
    sched = Scheduler(max_num_seqs=16, max_num_batched_tokens=64)
    sched.add(req(0, 150, 3))
    batches = drain(sched)
    assert all(b.num_tokens <= 64 for b in batches)
    assert [b.prefill_chunks for b in batches[:3]] == [[(64, 0)], [(64, 64)], [(22, 128)]]
    assert [len(b.emitted) for b in batches] == [0, 0, 1, 1, 1]


def test_decodes_go_first_and_prefill_chunks_fill_the_rest():
    sched = Scheduler(max_num_seqs=16, max_num_batched_tokens=16)
    out = emission_schedule(sched, {0: [req(0, 4, 20)], 1: [req(1, 100, 2)]})
    # r0 keeps decoding every iteration while r1's 100-token prompt goes in 15-token chunks
    assert out["r0"] == list(range(20))
    # iteration 1..7 prefill r1 (15 tokens each: 105 >= 100), first token at iteration 7
    assert out["r1"] == [7, 8]


def test_mixed_batch_reports_chunks_and_decode_contexts():
    sched = Scheduler(max_num_seqs=16, max_num_batched_tokens=40)
    a, b = req(0, 10, 5), req(1, 50, 5)
    sched.add(a)
    sched.step()  # a prefilled (10 tokens) and emits its first token
    sched.add(b)
    batch = sched.step()
    assert batch.decode_context_lens == [11]  # 10 prompt + 1 generated, attending to itself
    assert batch.prefill_chunks == [(39, 0)]  # 40-token budget minus a's decode
    assert batch.num_sampled == 1 and batch.emitted == [a]


def test_fcfs_order_of_first_tokens():
    sched = Scheduler(max_num_seqs=2, max_num_batched_tokens=1000)
    arrivals = {0: [req(i, 30, 3) for i in range(6)]}
    out = emission_schedule(sched, arrivals)
    firsts = [out[f"r{i}"][0] for i in range(6)]
    assert firsts == sorted(firsts)
    assert firsts[0] == firsts[1] < firsts[2] == firsts[3] < firsts[4] == firsts[5]


def test_abort_removes_running_and_waiting_requests():
    sched = Scheduler(max_num_seqs=1, max_num_batched_tokens=100)
    a, b = req(0, 5, 50), req(1, 5, 50)
    sched.add(a)
    sched.add(b)
    sched.step()
    sched.abort(b)  # waiting
    sched.abort(a)  # running
    assert not sched.has_work()


def test_bad_configuration_is_a_config_error():
    with pytest.raises(ConfigError):
        Scheduler(0, 10)
    with pytest.raises(ConfigError):
        Scheduler(4, 0)
    with pytest.raises(ConfigError):
        SimRequest("x", 0, 5)
    with pytest.raises(ConfigError):
        SimRequest("x", 5, 0)
