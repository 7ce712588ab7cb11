"""The live engine kinds: a real server (``vllm``, or the simulator's ``sim``) over HTTP.

Requests go through the streaming client (``greenllm.load.client``), telemetry through
the sampler thread on the GPUs; times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from greenllm.engine.launch import engine_spec, engine_version, start_engine
from greenllm.engine.server_process import ServerProcess
from greenllm.errors import ConfigError
from greenllm.gpu import Gpu, SimGpuSpec, TelemetrySampler, open_gpus
from greenllm.load import Workload, records_to_frame, run_requests_sync
from greenllm.load.client import run_sequential_sync
from greenllm.measure.preflight_gpus import instance_selectors, sim_node_size


@dataclass
class LiveEngine:
    """A started server; the streaming client talks to it."""

    kind: str
    server: ServerProcess
    model: str
    prompt_format: str = "text"  # load.prompt_format: text (as users send) or token_ids
    trust_env: bool = True  # load.trust_env: proxy/netrc lookups per request, as vllm bench serve

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def send(self, workload: Workload, offsets_s: Sequence[float], *, seed: int,
             timeout_s: float) -> pd.DataFrame:
        return records_to_frame(run_requests_sync(self.base_url, self.model, workload,
                                                  offsets_s, seed=seed, timeout_s=timeout_s,
                                                  prompt_format=self.prompt_format,
                                                  trust_env=self.trust_env))

    def send_sequential(self, workload: Workload, n: int, *, seed: int,
                        timeout_s: float) -> pd.DataFrame:
        return records_to_frame(run_sequential_sync(
            self.base_url, self.model, workload, n, seed=seed, timeout_s=timeout_s,
            request_id_prefix="baseline-", prompt_format=self.prompt_format,
            trust_env=self.trust_env))

    def sampler(self, gpu: Gpu) -> TelemetrySampler:
        # The energy counter's read period is chosen from its measured cost (gpu/energy_read.py).
        return TelemetrySampler(gpu, period_s=0.02, energy_period_s="auto")

    def check_alive(self) -> None:
        self.server.check_alive()

    def stop(self, grace_s: float) -> None:
        self.server.stop(grace_s)


@dataclass(frozen=True)
class LiveKind:
    """``vllm`` (real GPUs through NVML) or ``sim`` (simulated GPUs in a state file)."""

    name: str

    def open_gpus(self, cfg: Any, out: Path) -> Gpu:
        tp = int(cfg.instance.tp)
        selectors = instance_selectors(cfg)
        if self.name == "sim" and cfg.gpu.sim_node_state and cfg.instance.gpus is not None:
            # this instance's GPUs of a shared simulated node (measure/parallel.py)
            if len(selectors) != tp:
                raise ConfigError(f"instance.gpus lists {len(selectors)} GPUs but instance.tp={tp}")
            return open_gpus("sim", selectors, sim_state_path=cfg.gpu.sim_node_state)
        if self.name == "sim":
            # A simulated node of gpu.sim_count GPUs: instance.gpus=[7] measures GPU 7.
            return open_gpus("sim", selectors, sim_state_path=out / "simgpu.state",
                             sim_count=sim_node_size(cfg),
                             clock_permitted=bool(cfg.clocks.sim_clock_permitted),
                             settle_s=float(cfg.gpu.sim_settle_s),
                             spec=SimGpuSpec.for_profile(str(cfg.gpu.name)))
        if len(selectors) != tp:
            raise ConfigError(f"instance.gpus lists {len(selectors)} GPUs but instance.tp={tp}")
        return open_gpus("nvml", selectors)

    def config_problems(self, cfg: Any) -> list[str]:
        return []  # the GPUs and vLLM are checked on the host (measure.preflight)

    def version(self) -> str:
        return engine_version(self.name)

    def start(self, cfg: Any, gpu: Gpu, *, model_dir: Path, out: Path,
              max_model_len: int) -> LiveEngine:
        infos = [gpu.info(i) for i in gpu.indices]
        spec = engine_spec(cfg, model_dir=model_dir, out_dir=out, max_model_len=max_model_len,
                           gpu_uuids=[i.uuid for i in infos], gpu_indices=list(gpu.indices),
                           sim_state_path=getattr(gpu, "state_path", None))
        print(f"greenllm: starting {self.name} engine (log: {spec.log_path})", file=sys.stderr,
              flush=True)
        return LiveEngine(self.name, start_engine(spec, cfg), str(cfg.model.name),
                          str(cfg.load.prompt_format), bool(cfg.load.trust_env))
