"""Server modes and process behaviour: fixed latency, argument errors, start-up, shutdown."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

import aiohttp
import pytest

from greenllm.gpu.sim import SimGpu
from greenllm.sim import server, server_argv
from simtest_helpers import (
    LLAMA2_7B,
    TINY_1B,
    SimServer,
    free_port,
    run,
    stream_completion,
    write_model,
)


def test_fixed_latency_mode_delivers_programmed_ttft_and_tbt(tmp_path):
    model = write_model(tmp_path / "tiny", TINY_1B)
    srv = SimServer(
        tmp_path / "server.log",
        model=model,
        served_model_name="tiny",
        fixed_latency_ttft_s=0.15,
        fixed_latency_tbt_s=0.02,
    )
    try:
        srv.wait_ready()

        async def burst():
            body = {
                "prompt": "t1 t2 t3",
                "max_tokens": 12,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            async with aiohttp.ClientSession() as session:
                return await asyncio.gather(
                    *(stream_completion(srv.url, body, session) for _ in range(4))
                )

        results = run(burst())
    finally:
        assert srv.stop() == 0
    for res in results:
        assert len(res.text_chunks) == 12 and res.events[-1] == "[DONE]"
        assert 0.15 <= res.ttft_s < 0.19
        gaps = [b - a for a, b in zip(res.token_times, res.token_times[1:])]
        assert statistics.median(gaps) == pytest.approx(0.02, abs=0.004)
        # absolute deadlines: no drift over the stream
        assert res.token_times[-1] - res.token_times[0] == pytest.approx(11 * 0.02, abs=0.01)


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "greenllm.sim.server", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_tp_that_does_not_divide_heads_exits_2_with_one_line(tmp_path):
    model = write_model(tmp_path / "tiny", TINY_1B)
    res = _run_cli("--model", str(model), "--tensor-parallel-size", "3", "--port", str(free_port()))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "tensor parallel size 3 does not divide num_attention_heads 32" in lines[0]
    assert res.stdout == ""


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--gpu-state", "/nonexistent/gpu.state"], "state file not found"),
        (["--gpu-state", "{state}", "--gpu-indices", "5"], "simulated GPU 5 does not exist"),
        (["--tensor-parallel-size", "2", "--gpu-indices", "0"], "must name 2 distinct GPUs"),
        (["--fixed-latency-ttft-s", "0.1"], "give both"),
        (["--calibration", "warp=9"], "unknown calibration"),
        (["--max-num-seqs", "0"], "--max-num-seqs must be >= 1"),
    ],
)
def test_bad_arguments_exit_2_before_serving(tmp_path, capsys, extra, fragment):
    model = write_model(tmp_path / "tiny", TINY_1B)
    SimGpu.create(tmp_path / "gpu.state", 2).close()
    extra = [x.replace("{state}", str(tmp_path / "gpu.state")) for x in extra]
    assert server.main(["--model", str(model), "--port", str(free_port()), *extra]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_missing_model_config_exits_2(tmp_path, capsys):
    assert server.main(["--model", str(tmp_path / "nothing")]) == 2
    assert "config" in capsys.readouterr().err


def test_startup_delay_then_clean_sigterm_mid_stream(tmp_path):
    model = write_model(tmp_path / "m7b", LLAMA2_7B)
    gpu = SimGpu.create(tmp_path / "gpu.state", 2, settle_s=0.0)
    t0 = time.monotonic()
    srv = SimServer(
        tmp_path / "server.log",
        model=model,
        tensor_parallel_size=2,
        gpu_state=tmp_path / "gpu.state",
        gpu_indices=[1, 0],
        startup_delay_s=0.4,
    )
    try:
        srv.wait_ready()
        assert time.monotonic() - t0 >= 0.4
        assert "greenllm-sim: ready" in srv.log() and "SIMULATED" in srv.log()

        async def stream_then_kill():
            body = {"prompt": [1] * 100, "max_tokens": 2000, "stream": True}
            async with aiohttp.ClientSession() as session:
                task = asyncio.create_task(stream_completion(srv.url, body, session))
                await asyncio.sleep(0.3)
                loads = [gpu.load(i) for i in (0, 1)]
                srv.proc.terminate()
                try:
                    await task
                except aiohttp.ClientError:
                    pass
                return loads

        loads_during = run(stream_then_kill())
        assert srv.proc.wait(5) == 0
    finally:
        srv.stop()
    # both GPUs of the TP2 instance were loaded during decode, and released at exit
    assert all(m > 0 for _, m in loads_during)
    assert [gpu.load(i) for i in (0, 1)] == [(0.0, 0.0), (0.0, 0.0)]
    gpu.close()


def test_server_argv_mirrors_vllm_flag_names(tmp_path):
    argv = server_argv(
        tmp_path,
        served_model_name="x",
        tensor_parallel_size=4,
        max_num_seqs=32,
        gpu_state=tmp_path / "s",
        gpu_indices=[4, 5, 6, 7],
        port=1234,
        calibration={"request_overhead_s": 0},
    )
    assert argv[:3] == [sys.executable, "-m", "greenllm.sim.server"]
    joined = " ".join(argv)
    for flag in (
        "--model",
        "--served-model-name x",
        "--tensor-parallel-size 4",
        "--max-num-seqs 32",
        "--gpu-indices 4,5,6,7",
        "--port 1234",
        "--calibration request_overhead_s=0",
    ):
        assert flag in joined
