"""Shared helpers for tests that run the simulator: model folders, a real server process,
a client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from greenllm.engine.ports import free_port
from greenllm.gpu.sim import SimGpu
from greenllm.sim import server_argv
from greenllm.sim.launch import wait_healthy

TINY_1B = {  # the 1.1B Llama shape measured on the lent H100
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 2048,
    "num_hidden_layers": 22,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "intermediate_size": 5632,
    "vocab_size": 32000,
    "max_position_embeddings": 2048,
    "torch_dtype": "bfloat16",
}
LLAMA2_7B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "intermediate_size": 11008,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "torch_dtype": "float16",
}
LLAMA2_70B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 8192,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "intermediate_size": 28672,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "torch_dtype": "float16",
}


# Never route 127.0.0.1 through a proxy that the environment might name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write_model(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


class SimServer:
    """``python -m greenllm.sim.server`` as a real subprocess on a free 127.0.0.1 port."""

    def __init__(self, log_path: Path, **kwargs):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        argv = server_argv(port=self.port, **kwargs)
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        if wait_healthy(self.url, self.proc, timeout_s):
            return
        if self.proc.poll() is not None:
            raise RuntimeError(f"sim server exited {self.proc.returncode}: {self.log()}")
        raise RuntimeError(f"sim server not ready in {timeout_s}s: {self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout_s: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@contextlib.contextmanager
def one_gpu_server(tmp: Path, max_num_seqs: int) -> Iterator[tuple[SimServer, Path]]:
    """A simulated server of the 1.1B shape (served as "m") on one simulated GPU:
    yields it ready, with its model folder; stopped and closed afterwards."""
    model = write_model(tmp / "llama-1b", TINY_1B)
    gpu = SimGpu.create(tmp / "gpu.state", 1, settle_s=0.02)
    srv = SimServer(tmp / "server.log", model=model, served_model_name="m",
                    max_model_len=2048, max_num_seqs=max_num_seqs,
                    gpu_state=tmp / "gpu.state", gpu_indices=[0])
    try:
        srv.wait_ready()
        yield srv, model
    finally:
        srv.stop()
        gpu.close()


@dataclass
class StreamResult:
    status: int
    headers: dict
    events: list = field(default_factory=list)  # parsed JSON chunks, or "[DONE]"
    token_times: list = field(default_factory=list)  # monotonic arrival of each text chunk
    t_send: float = 0.0

    @property
    def text_chunks(self) -> list[dict]:
        return [e for e in self.events if isinstance(e, dict) and e.get("choices")]

    @property
    def ttft_s(self) -> float:
        return self.token_times[0] - self.t_send


async def stream_completion(
    url: str, body: dict, session: aiohttp.ClientSession | None = None
) -> StreamResult:
    """POST a streaming completion; parse every SSE event and time each token chunk."""
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        t_send = time.monotonic()
        async with session.post(url + "/v1/completions", json=body) as resp:
            res = StreamResult(resp.status, dict(resp.headers), t_send=t_send)
            if resp.status != 200:
                res.events.append(await resp.text())
                return res
            buf = b""
            async for data in resp.content.iter_any():
                now = time.monotonic()
                buf += data
                while b"\n\n" in buf:
                    event, buf = buf.split(b"\n\n", 1)
                    assert event.startswith(b"data: "), event
                    payload = event[len(b"data: ") :]
                    if payload == b"[DONE]":
                        res.events.append("[DONE]")
                        continue
                    obj = json.loads(payload)
                    res.events.append(obj)
                    if obj.get("choices"):
                        res.token_times.append(now)
            assert buf == b"", buf
            return res
    finally:
        if own:
            await session.close()


def run(coro):
    return asyncio.run(coro)


def post_json(url: str, body: dict, timeout_s: float = 30.0) -> tuple[int, dict, dict]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with _OPENER.open(req, timeout=timeout_s) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def get_json(url: str) -> tuple[int, dict, dict]:
    with _OPENER.open(url, timeout=5) as r:
        return r.status, dict(r.headers), json.loads(r.read() or b"null")


# The smallest `greenllm measure` grid on the simulated GPU + engine: one workload, one
# load point, a two-probe search, a few requests (tests add their own overrides after it).
TINY_SIM_MEASURE = [
    "model=llama-1b", "engine=sim", "instance=tp1", "workload.ids=[S-S]",
    "load=smoke", "load.points=[low]", "load.requests_per_point=8", "load.min_duration_s=0.2",
    "load.warmup_requests=1", "search=smoke", "search.max_probes=2",
    "search.requests_per_probe=8", "search.probe_min_duration_s=0.2", "search.confirm_repeats=0",
    "slo.baseline_requests=2",
]


def measure_cli(out: Path, args: list[str], *, wait: bool = True, timeout_s: float = 240,
                **popen):
    """`greenllm measure` as a subprocess writing to ``out``/raw, with its own model folder
    and GPU state dir under ``out``. ``wait=False`` returns the running Popen (stderr
    piped), so independent runs can go side by side: a simulated run waits on its server
    most of the time."""
    env = {**os.environ, "GREENLLM_STATE_DIR": str(out / "state")}
    argv = [sys.executable, "-m", "greenllm.cli.main", "measure", f"out_dir={out / 'raw'}",
            f"model.path={out / 'model'}", *args]
    if not wait:
        return subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True, **popen)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s)


def finish(proc: subprocess.Popen, timeout_s: float = 120) -> subprocess.CompletedProcess:
    """Wait for a process started with piped output (``measure_cli(..., wait=False)``,
    ``smk_run.start``); its output as from subprocess.run."""
    out, err = proc.communicate(timeout=timeout_s)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
