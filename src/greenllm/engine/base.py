"""One engine interface for every kind: what a measurement run needs from an engine.

``measure`` picks a kind once (``greenllm.engine.kinds.engine_kind``) and then only
talks to these two protocols:

* ``EngineKind`` opens the instance's GPUs and starts the engine;
* ``Engine`` sends requests (a schedule of arrivals, or requests one at a time) and
  returns the per-request frame of ``greenllm.load.records_to_frame``; it gives the
  telemetry sampler whose ``frame()`` has the columns of ``greenllm.gpu.telemetry``.

A live engine (``vllm``, ``sim``) is a server behind HTTP and a real clock; the
``virtual`` engine runs the simulator in virtual time. Both fill the same columns, on
their own clock (``time.monotonic()`` or virtual seconds), so everything after them
(metrics, energy windows, summaries) is the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from greenllm.gpu import Gpu
from greenllm.load import Workload


class Sampler(AbstractContextManager["Sampler"], Protocol):
    """A telemetry sampler over the cell: ``with sampler: ...``; ``frame()`` any time."""

    def frame(self) -> pd.DataFrame: ...


class Engine(Protocol):
    kind: str
    base_url: str  # where it serves (a URL, or virtual://... for the virtual engine)

    def send(self, workload: Workload, offsets_s: Sequence[float], *, seed: int,
             timeout_s: float) -> pd.DataFrame:
        """Send one request per offset (seconds after the first), exact lengths; wait for
        all; one row per request (``greenllm.load.records_to_frame`` columns)."""
        ...

    def send_sequential(self, workload: Workload, n: int, *, seed: int,
                        timeout_s: float) -> pd.DataFrame:
        """``n`` requests one at a time, each after the previous ended (requests alone)."""
        ...

    def sampler(self, gpu: Gpu) -> Sampler: ...

    def check_alive(self) -> None:
        """Raise EngineError if the engine died."""
        ...

    def stop(self, grace_s: float) -> None: ...


class EngineKind(Protocol):
    name: str

    def open_gpus(self, cfg: Any, out: Path) -> Gpu:
        """The instance's GPUs (real or simulated) for ``cfg`` (measure settings)."""
        ...

    def version(self) -> str: ...

    def config_problems(self, cfg: Any) -> list[str]:
        """What only this kind can find wrong in ``cfg`` before anything runs, one line
        each (the virtual engine: a GPU it has no simulated model of)."""
        ...

    def start(self, cfg: Any, gpu: Gpu, *, model_dir: Path, out: Path,
              max_model_len: int) -> Engine:
        """Start the engine (it serves until ``stop``)."""
        ...
