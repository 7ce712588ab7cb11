"""Local TCP ports for engine servers."""

from __future__ import annotations

import socket

from greenllm.errors import EngineError


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ensure_port_free(host: str, port: int) -> None:
    """Fail in one line, before starting anything, when ``port`` is already taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise EngineError(
                f"port {port} on {host} is already in use ({exc.strerror}); "
                "choose another with engine.port=... or leave it unset for a free one"
            ) from None
