"""A calibrated simulation of vLLM-style continuous-batching inference on H100s.

``PerfModel`` prices one iteration (roofline of compute, memory, TP communication and
host overhead); ``Scheduler`` decides what each iteration runs; ``greenllm.sim.server``
serves it all over HTTP while driving a ``SimGpu`` so telemetry sees the implied power.
Every output is labelled simulated. Model and sources: docs/simulator.md.
"""

from greenllm.sim.hardware import Calibration, GpuPerfSpec
from greenllm.sim.launch import server_argv
from greenllm.sim.model_shape import ModelShape
from greenllm.sim.perf_model import IterationCost, PerfModel
from greenllm.sim.scheduler import ScheduledBatch, Scheduler, SimRequest, emission_schedule

__all__ = [
    "Calibration",
    "GpuPerfSpec",
    "IterationCost",
    "ModelShape",
    "PerfModel",
    "ScheduledBatch",
    "Scheduler",
    "SimRequest",
    "emission_schedule",
    "server_argv",
]
