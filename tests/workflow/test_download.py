"""`greenllm download`: builtin folder, local folder, hub snapshot (against a local
HTTP server that speaks the few hub endpoints huggingface_hub uses)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from greenllm.cli.main import main

SECRET = "hf_test_secret_do_not_print"
COMMIT = "c0ffee" + "0" * 34
REPO = "org/tiny-llama"
REPO_FILES = {
    "config.json": b'{"model_type": "llama", "hidden_size": 64}',
    "tokenizer.json": b'{"version": "1.0"}',
    "tokenizer_config.json": b"{}",
    "model-00001-of-00001.safetensors": b"\0" * 256,
    "model.safetensors.index.json": b'{"weight_map": {}}',
    "pytorch_model.bin": b"\0" * 256,
    "README.md": b"# tiny",
}


class FakeHub(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, str | None]]] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              head: bool = False) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, obj) -> None:
        self._send(200, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def _serve(self, head: bool) -> None:
        FakeHub.requests.append((self.command, self.path, self.headers.get("authorization")))
        path = self.path.split("?")[0]
        if path == f"/api/models/{REPO}/revision/main":
            return self._json({"id": REPO, "sha": COMMIT,
                               "siblings": [{"rfilename": f} for f in REPO_FILES]})
        if path == f"/api/models/{REPO}/tree/{COMMIT}":
            return self._json([{"type": "file", "path": f, "size": len(b),
                                "oid": hashlib.sha1(b).hexdigest()}
                               for f, b in REPO_FILES.items()])
        prefix = f"/{REPO}/resolve/{COMMIT}/"
        if path.startswith(prefix) and path[len(prefix):] in REPO_FILES:
            body = REPO_FILES[path[len(prefix):]]
            return self._send(200, body, {"X-Repo-Commit": COMMIT,
                                          "ETag": f'"{hashlib.sha1(body).hexdigest()}"'},
                              head=head)
        self._send(404, b'{"error": "not found"}', {"X-Error-Code": "RepoNotFound"})

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)


@pytest.fixture()
def hub(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeHub.requests = []
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    yield FakeHub
    server.shutdown()
    server.server_close()


def download(*args: str) -> int:
    return main(["download", *args])


def test_builtin_builds_a_weightless_folder_and_marker(tmp_path):
    dest, marker = tmp_path / "models" / "llama-1b", tmp_path / "models" / "llama-1b.json"
    assert download("--model", "llama-1b", "--dest", str(dest), "--marker", str(marker)) == 0
    config = json.loads((dest / "config.json").read_text())
    assert config["hidden_size"] == 2048 and config["num_hidden_layers"] == 22
    assert (dest / "tokenizer.json").is_file()
    record = json.loads(marker.read_text())
    assert record["source"] == "builtin" and record["path"] == str(dest)
    assert "config.json" in record["files"]
    assert not any(f.endswith((".safetensors", ".bin")) for f in record["files"])


def test_builtin_rejects_unknown_shape_and_real_weights(tmp_path, capsys):
    assert download("--model", "gpt-9", "--dest", str(tmp_path / "m")) == 2
    assert download("--model", "llama-1b", "--load-format", "real",
                    "--dest", str(tmp_path / "m")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "greenllm: error: a builtin model has no weights: use load format dummy"
    assert any("no built-in shape 'gpt-9'" in line for line in err)
    assert not (tmp_path / "m").exists()


def test_local_folder_is_checked_not_copied(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    marker = tmp_path / "mine.json"
    assert download("--model", "mine", "--source", "local", "--dest", str(folder)) == 2
    assert "has no tokenizer" in capsys.readouterr().err
    (folder / "tokenizer.json").write_text("{}")
    assert download("--model", "mine", "--source", "local", "--dest", str(folder),
                    "--marker", str(marker)) == 0
    assert json.loads(marker.read_text())["path"] == str(folder)
    assert download("--model", "mine", "--source", "local", "--dest", str(folder),
                    "--load-format", "real") == 2
    assert "has no weights" in capsys.readouterr().err


def test_hub_dummy_fetches_config_and_tokenizer_only(hub, tmp_path, capsys):
    dest = tmp_path / "tiny"
    assert download("--model", "tiny", "--source", "hub", "--repo-id", REPO,
                    "--dest", str(dest), "--marker", str(tmp_path / "m.json")) == 0
    got = sorted(p.name for p in dest.iterdir() if p.is_file())
    assert got == ["config.json", "tokenizer.json", "tokenizer_config.json"]
    fetched = {p.rsplit("/", 1)[1] for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p}
    assert fetched == set(got)  # weights never requested
    auth = {a for m, p, a in hub.requests if REPO in p}
    assert auth == {f"Bearer {SECRET}"}  # token from the environment ...
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err  # ... never printed


def test_hub_real_fetches_safetensors_not_pickles(hub, tmp_path):
    dest = tmp_path / "tiny"
    assert download("--model", "tiny", "--source", "hub", "--repo-id", REPO,
                    "--dest", str(dest), "--load-format", "real") == 0
    got = {p.name for p in dest.iterdir() if p.is_file()}
    assert "model-00001-of-00001.safetensors" in got
    assert "model.safetensors.index.json" in got
    assert "pytorch_model.bin" not in got and "README.md" not in got


def test_unknown_repo_is_one_line(hub, tmp_path, capsys):
    assert download("--model", "x", "--source", "hub", "--repo-id", "org/missing",
                    "--dest", str(tmp_path / "x")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("greenllm: error: cannot download org/missing@main")
    assert SECRET not in "\n".join(err)


def test_unreachable_hub_is_one_line(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert download("--model", "x", "--source", "hub", "--repo-id", REPO,
                    "--dest", str(tmp_path / "x")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("greenllm: error: cannot download org/tiny-llama@main from "
                              f"http://127.0.0.1:{port}: hub unreachable")
    assert not any("Traceback" in line for line in err)


def test_hub_needs_a_repo_id(tmp_path, capsys):
    assert download("--model", "x", "--source", "hub", "--dest", str(tmp_path / "x")) == 2
    assert "source hub needs a repo id" in capsys.readouterr().err
    assert not Path(tmp_path / "x").exists()
