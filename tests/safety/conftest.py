"""Fixtures of the bad-input and fault catalogues: run ``greenllm`` in process (a real
process boundary only where it is the point); helpers are in ``safety_helpers``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from safety_helpers import Result

from greenllm.cli.main import main


@pytest.fixture
def greenllm(monkeypatch, capsys, tmp_path) -> Callable[..., Result]:
    """``greenllm(*argv)``: the CLI in process; counts engine starts (a spy that lets
    the real engine start)."""
    import greenllm.engine.live as live_engine

    monkeypatch.setenv("GREENLLM_STATE_DIR", str(tmp_path / "state"))
    starts: list[int] = []
    real = live_engine.start_engine

    def counting(*args, **kwargs):
        starts.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(live_engine, "start_engine", counting)

    def call(*argv: str) -> Result:
        before = len(starts)
        capsys.readouterr()
        code = main(list(argv))
        return Result(code, capsys.readouterr().err, len(starts) - before)

    return call
