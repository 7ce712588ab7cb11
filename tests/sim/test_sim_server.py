"""The real simulated server as a subprocess, driving a real SimGpu state file."""

from __future__ import annotations

import asyncio
import statistics
import time

import aiohttp
import pytest

from greenllm.gpu.reasons import REASON_BITS
from greenllm.gpu.sim import SimGpu
from greenllm.sim import ModelShape, PerfModel
from simtest_helpers import (
    LLAMA2_7B,
    SimServer,
    get_json,
    post_json,
    run,
    stream_completion,
    write_model,
)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """One server (Llama-2-7B shape, TP1) on one SimGpu for the whole module."""
    tmp = tmp_path_factory.mktemp("simserver")
    model = write_model(tmp / "llama-7b", LLAMA2_7B)
    gpu = SimGpu.create(tmp / "gpu.state", 1, settle_s=0.02)
    srv = SimServer(
        tmp / "server.log",
        model=model,
        served_model_name="llama-7b",
        max_model_len=16384,
        gpu_state=tmp / "gpu.state",
        gpu_indices=[0],
    )
    try:
        srv.wait_ready()
        yield srv, gpu, PerfModel(ModelShape.from_config_json(model))
    finally:
        srv.stop()
        gpu.close()


def test_stream_token_ids_exact_count_usage_and_done(sim):
    srv, _, perf = sim
    body = {
        "model": "llama-7b",
        "prompt": list(range(50)),
        "max_tokens": 17,
        "min_tokens": 17,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    res = run(stream_completion(srv.url, body))
    assert res.status == 200
    assert res.headers["x-greenllm-simulated"] == "1"
    assert res.headers["Content-Type"].startswith("text/event-stream")
    chunks = res.text_chunks
    assert len(chunks) == 17  # exactly max_tokens, one token per chunk
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 16 + ["length"]
    assert all(len(c["choices"][0]["text"].split()) == 1 for c in chunks)
    assert all(c["choices"][0]["text"].startswith("t") for c in chunks)
    assert len({c["id"] for c in res.events[:-1]}) == 1
    usage = res.events[-2]
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 50,
        "total_tokens": 67,
        "completion_tokens": 17,
    }
    assert res.events[-1] == "[DONE]"
    # tokens are paced by the performance model: one decode iteration apart
    gaps = [b - a for a, b in zip(res.token_times, res.token_times[1:])]
    expected = perf.decode_cost(1, 60).duration_s
    assert statistics.median(gaps) == pytest.approx(expected, rel=0.3)


def test_batch_prompts_and_non_streaming(sim):
    srv, _, _ = sim
    status, headers, obj = post_json(
        srv.url + "/v1/completions", {"prompt": "t1 t2 t3", "max_tokens": 4}
    )
    assert status == 200 and headers["x-greenllm-simulated"] == "1"
    assert obj["object"] == "text_completion"
    assert len(obj["choices"][0]["text"].split()) == 4
    assert obj["usage"] == {"prompt_tokens": 3, "total_tokens": 7, "completion_tokens": 4}
    body = {
        "prompt": [[1, 2, 3], [4, 5]],
        "max_tokens": 3,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    res = run(stream_completion(srv.url, body))
    per_choice = {0: 0, 1: 0}
    for c in res.text_chunks:
        per_choice[c["choices"][0]["index"]] += 1
    assert per_choice == {0: 3, 1: 3}
    assert res.events[-2]["usage"]["prompt_tokens"] == 5
    assert res.events[-2]["usage"]["completion_tokens"] == 6


def test_info_endpoints_and_errors_are_labelled(sim):
    srv, _, _ = sim
    status, headers, version = get_json(srv.url + "/version")
    assert version["simulated"] is True and version["version"].startswith("greenllm-sim ")
    assert headers["x-greenllm-simulated"] == "1"
    _, _, models = get_json(srv.url + "/v1/models")
    assert models["data"][0]["id"] == "llama-7b" and models["data"][0]["max_model_len"] == 16384
    status, headers, err = post_json(
        srv.url + "/v1/completions", {"prompt": [1] * 16384, "max_tokens": 1}
    )
    assert status == 400 and headers["x-greenllm-simulated"] == "1"
    assert "maximum context length is 16384" in err["error"]["message"]


def _ttft(srv: SimServer, prompt_tokens: int) -> float:
    body = {"prompt": [7] * prompt_tokens, "max_tokens": 1, "stream": True}
    res = run(stream_completion(srv.url, body))
    assert len(res.text_chunks) == 1
    return res.ttft_s


def test_server_follows_a_clock_locked_from_another_process(sim):
    srv, gpu, perf = sim
    overhead = perf.cal.request_overhead_s
    measured = {}
    try:
        for mhz in (1200, 600):  # both below the power cap for this load
            gpu.lock_sm_clock(0, mhz)
            time.sleep(0.05)  # > settle_s
            measured[mhz] = _ttft(srv, 4000)
            predicted = overhead + perf.prefill_cost(4000, mhz).duration_s
            assert measured[mhz] == pytest.approx(predicted, rel=0.15), mhz
    finally:
        gpu.reset_sm_clock(0)
    # compute-bound prefill: half the clock, about twice the GPU time
    assert measured[600] - overhead > 1.7 * (measured[1200] - overhead)


def test_large_prefill_hits_the_power_cap_and_throttles(sim):
    srv, gpu, _ = sim
    gpu.reset_sm_clock(0)
    time.sleep(0.05)

    async def scenario():
        body = {"prompt": [3] * 8000, "max_tokens": 2, "stream": True}
        async with aiohttp.ClientSession() as session:
            task = asyncio.create_task(stream_completion(srv.url, body, session))
            busy = []
            while not task.done():
                s = gpu.sample(0)
                if s.utilization_pct and s.utilization_pct > 50:
                    busy.append(s)
                await asyncio.sleep(0.01)
            await task
        await asyncio.sleep(0.1)  # the server sets the load to 0 when idle
        return busy, gpu.sample(0)

    busy, after = run(scenario())
    assert len(busy) >= 5, "the prefill should keep the GPU busy for a while"
    cap = gpu.info(0).power_limit_w
    capped = [s for s in busy if s.throttle_reasons & REASON_BITS["sw_power_cap"]]
    # sustained: the limiter (acting on power averaged over tens of ms) has engaged and
    # holds the limit at a throttled clock for most of the prefill
    assert len(capped) >= len(busy) // 2
    assert all(s.power_instant_w == pytest.approx(cap, rel=0.01) for s in capped)
    assert max(s.sm_clock_mhz for s in capped) < 1700  # throttled from the 1980 MHz boost
    # before it engaged, the start of the burst ran above the limit at the full clock
    assert all(s.power_instant_w > cap and s.sm_clock_mhz == 1980
               for s in busy if s.t_mono < capped[0].t_mono)
    assert after.power_instant_w < 150 and after.utilization_pct == 0


def test_power_rises_with_load_and_clock(sim):
    srv, gpu, _ = sim

    async def decode_power(n_streams: int) -> float:
        body = {"prompt": [5] * 20, "max_tokens": 60, "stream": True}
        async with aiohttp.ClientSession() as session:
            tasks = [
                asyncio.create_task(stream_completion(srv.url, body, session))
                for _ in range(n_streams)
            ]
            await asyncio.sleep(0.2)  # past the request overhead and the prefills
            watts = [gpu.sample(0).power_instant_w]
            for _ in range(10):
                await asyncio.sleep(0.01)
                watts.append(gpu.sample(0).power_instant_w)
            await asyncio.gather(*tasks)
        return statistics.median(watts)

    gpu.reset_sm_clock(0)
    time.sleep(0.05)
    idle_w = gpu.sample(0).power_instant_w
    one_w = run(decode_power(1))
    many_w = run(decode_power(32))
    try:
        gpu.lock_sm_clock(0, 990)
        time.sleep(0.05)
        many_slow_w = run(decode_power(32))
    finally:
        gpu.reset_sm_clock(0)
    cap = gpu.info(0).power_limit_w
    assert idle_w < one_w < many_w < cap
    assert many_slow_w < many_w - 50
