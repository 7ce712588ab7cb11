"""Helpers of the bad-input and fault catalogues: what a run left behind, and the tiny
config they measure (a module of its own name: ``from conftest import`` would find the
first conftest another test folder put on sys.path)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from greenllm.gpu.sim import SimGpu

ROOT = Path(__file__).resolve().parents[2]

# Small enough that a cell takes about a second on the simulated engine.
TINY = [
    "model=llama-1b", "engine=sim", "instance=tp1", "workload.ids=[S-S]",
    "load=smoke", "load.points=[low]", "load.requests_per_point=4", "load.min_duration_s=0.1",
    "load.warmup_requests=1", "search=smoke", "search.max_probes=1",
    "search.requests_per_probe=4", "search.probe_min_duration_s=0.1", "search.confirm_repeats=0",
    "slo.baseline_requests=1", "gpu.sim_settle_s=0.001",
]


@dataclass
class Result:
    code: int
    err: str
    engine_starts: int

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]

    @property
    def errors(self) -> list[str]:
        return [ln for ln in self.lines if ln.startswith("greenllm: error:")]


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its bytes (to prove nothing changed)."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def clocks_restored(out: Path, state: Path) -> bool:
    """No simulated GPU of the run is left locked and no clock marker is left behind."""
    markers = list((state / "clock-markers").glob("clock-pin-*.json")) if state.exists() else []
    path = out / "simgpu.state"
    if not path.exists():
        return not markers
    gpu = SimGpu.open(path)
    try:
        return not markers and all(gpu.locked_sm_clock_mhz(i) is None for i in gpu.indices)
    finally:
        gpu.close()
