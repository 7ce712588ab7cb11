"""ServerProcess: start, readiness, fail-fast on death, clean stop — with real processes."""

from __future__ import annotations

import socket
import sys
import textwrap
import time

import pytest

from greenllm.engine.ports import ensure_port_free, free_port
from greenllm.engine.server_process import ServerProcess, log_tail
from greenllm.errors import EngineError

HEALTH_SERVER = textwrap.dedent(
    """
    import http.server, sys, time, signal, os
    delay = float(sys.argv[2])
    time.sleep(delay)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404); self.end_headers()
        def log_message(self, *a): pass
    child = os.fork()
    if child == 0:                # a worker child, like vLLM's engine core
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        time.sleep(600); os._exit(0)
    print("worker", child, flush=True)
    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def _server(tmp_path, code: str, *args: str) -> ServerProcess:
    script = tmp_path / "srv.py"
    script.write_text(code)
    port = free_port()
    return ServerProcess([sys.executable, str(script), str(port), *args], host="127.0.0.1",
                         port=port, log_path=tmp_path / "engine.log", name="test server")


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def test_ready_then_stop_kills_whole_group(tmp_path):
    srv = _server(tmp_path, HEALTH_SERVER, "0.3")
    srv.start()
    took = srv.wait_ready(timeout_s=20)
    assert took >= 0.3
    assert srv.health_ok()
    worker = int(next(ln for ln in log_tail(srv.log_path) if ln.startswith("worker")).split()[1])
    srv.stop(grace_s=5)
    assert not srv.alive()
    # the forked worker ignored SIGINT; stop() must still have killed it (gone, or a
    # zombie waiting for a container init that does not reap)
    time.sleep(0.3)
    assert _state(worker) in (None, "Z")


def test_death_during_start_is_one_line_with_log_hint(tmp_path):
    srv = _server(tmp_path, "import sys; print('loading'); print('ValueError: bad model dir', file=sys.stderr); sys.exit(7)")
    srv.start()
    with pytest.raises(EngineError) as exc:
        srv.wait_ready(timeout_s=20)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "code 7" in msg and "bad model dir" in msg and "engine.log" in msg
    assert "loading" in exc.value.details  # the log tail travels as details


def test_health_timeout_stops_server(tmp_path):
    srv = _server(tmp_path, HEALTH_SERVER, "30")
    srv.start()
    with pytest.raises(EngineError, match="did not become healthy"):
        srv.wait_ready(timeout_s=0.5)
    assert not srv.alive()


def test_missing_executable(tmp_path):
    srv = ServerProcess(["/nonexistent/vllm", "serve"], host="127.0.0.1", port=free_port(),
                        log_path=tmp_path / "e.log")
    with pytest.raises(EngineError, match="not found"):
        srv.start()


def test_port_in_use_is_detected():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(EngineError, match=f"port {port} .* already in use"):
            ensure_port_free("127.0.0.1", port)


def test_log_tail(tmp_path):
    p = tmp_path / "l.log"
    p.write_text("\n".join(f"line {i}" for i in range(100)) + "\n\n")
    assert log_tail(p, 3) == ["line 98", "line 99"]
    assert log_tail(tmp_path / "missing.log") == []


def test_server_dies_when_greenllm_is_killed_hard(tmp_path):
    """kill -9 of the measuring process must not leave its server holding the GPU."""
    port = free_port()
    script = tmp_path / "srv.py"
    script.write_text(HEALTH_SERVER)
    parent = tmp_path / "parent.py"
    parent.write_text(textwrap.dedent(f"""
        import sys, time
        from greenllm.engine.server_process import ServerProcess
        s = ServerProcess([sys.executable, {str(script)!r}, "{port}", "0"], host="127.0.0.1",
                          port={port}, log_path={str(tmp_path / 'e.log')!r})
        s.start(); s.wait_ready(20)
        print(s.proc.pid, flush=True)
        time.sleep(600)
    """))
    import subprocess
    proc = subprocess.Popen([sys.executable, str(parent)], stdout=subprocess.PIPE, text=True)
    server_pid = int(proc.stdout.readline())
    assert _state(server_pid) not in (None, "Z")
    proc.kill()  # SIGKILL: no finally, no atexit
    proc.wait()
    deadline = time.monotonic() + 10
    while _state(server_pid) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _state(server_pid) in (None, "Z")
