"""A real local streaming server (see sse_test_server.py) shared by the client tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from sse_test_server import Behavior, ServerThread, SseServer


@pytest.fixture(scope="session")
def sse_thread() -> Iterator[ServerThread]:
    thread = ServerThread(SseServer()).start()
    yield thread
    thread.stop()


@pytest.fixture
def sse(sse_thread: ServerThread) -> Iterator[ServerThread]:
    """The server, reset to the default behaviour; tests call ``sse.server.configure``."""
    sse_thread.server.configure(Behavior())
    yield sse_thread
    sse_thread.server.configure(Behavior())


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
