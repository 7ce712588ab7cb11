"""``trust_env``: the client's session honours HTTP_PROXY / NO_PROXY as vllm bench serve's.

A real local "proxy" (a socket server that records the request line it gets and answers
502) stands between the client and the streaming server whenever the environment says
so; the tests check who the requests reached, not how the session was built.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest

from greenllm.engine.live import LiveEngine
from greenllm.load.client import run_requests_sync, run_sequential_sync
from greenllm.load.stream_request import env_proxy_for

SMALL = {"id": "small", "input_tokens": 8, "output_tokens": 4}


class _Recorder(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline().decode("latin-1").strip()
        self.server.lines.append(line)  # type: ignore[attr-defined]
        self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def proxy() -> Iterator[socketserver.ThreadingTCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    server.lines = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy_env(monkeypatch, proxy) -> str:
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("http_proxy", url)
    return url


def test_default_session_goes_through_the_environments_proxy_and_warns(sse, proxy, proxy_env,
                                                                       capsys):
    records = run_requests_sync(sse.url, "m", SMALL, [0.0, 0.0], seed=1, timeout_s=10)
    assert [r.ok for r in records] == [False, False]
    assert all("502" in r.error for r in records), [r.error for r in records]
    # An HTTP proxy gets the absolute URL of the server: the requests went there.
    assert len(proxy.lines) == 2
    assert all(line.startswith(f"POST {sse.url}/v1/completions") for line in proxy.lines)
    err = capsys.readouterr().err
    assert f"go through proxy {proxy_env}" in err and "load.trust_env=false" in err
    # A run opens one session per probe and load point: the warning is said once.
    run_requests_sync(sse.url, "m", SMALL, [0.0], seed=1, timeout_s=10)
    assert "proxy" not in capsys.readouterr().err


def test_trust_env_false_ignores_the_proxy(sse, proxy, proxy_env, capsys):
    records = run_requests_sync(sse.url, "m", SMALL, [0.0, 0.0], seed=1, timeout_s=10,
                                trust_env=False)
    assert all(r.ok for r in records), [r.error for r in records]
    baseline = run_sequential_sync(sse.url, "m", SMALL, 2, seed=1, timeout_s=10,
                                   trust_env=False)
    assert all(r.ok for r in baseline)
    assert proxy.lines == []
    assert "proxy" not in capsys.readouterr().err


def test_no_proxy_exempts_the_server(sse, proxy, proxy_env, monkeypatch, capsys):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert env_proxy_for(sse.url) is None
    records = run_requests_sync(sse.url, "m", SMALL, [0.0], seed=1, timeout_s=10)
    assert records[0].ok, records[0].error
    assert proxy.lines == []
    assert "proxy" not in capsys.readouterr().err


class _Server:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


@pytest.mark.parametrize("trust_env, reaches_proxy", [(True, True), (False, False)])
def test_live_engine_passes_load_trust_env_to_every_run(sse, proxy, proxy_env, trust_env,
                                                        reaches_proxy):
    # LiveEngine is what measure, the search and the trace replay send through.
    engine = LiveEngine("sim", _Server(sse.url), "m", "text", trust_env)  # type: ignore[arg-type]
    frame = engine.send(SMALL, [0.0], seed=1, timeout_s=10)
    alone = engine.send_sequential(SMALL, 1, seed=2, timeout_s=10)
    assert bool(frame["ok"].iloc[0]) is (not reaches_proxy)
    assert bool(alone["ok"].iloc[0]) is (not reaches_proxy)
    assert len(proxy.lines) == (2 if reaches_proxy else 0)
