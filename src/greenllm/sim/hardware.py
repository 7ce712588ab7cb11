"""GPU performance facts and the simulator's calibration constants, in one place.

Every number the performance model uses lives here, with its source or the measurement
it was fitted to (docs/simulator.md repeats them with citations). Nothing else in
``greenllm.sim`` hard-codes a hardware or efficiency constant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from greenllm.errors import ConfigError


@dataclass(frozen=True)
class GpuPerfSpec:
    """Peak capabilities of one GPU, as the vendor states them.

    ``peak_bf16_flops`` is dense (no sparsity) tensor-core throughput at
    ``boost_clock_mhz``; it scales linearly with the SM clock. Memory and NVLink
    bandwidth do not depend on the SM clock (separate clock domains).
    """

    name: str
    peak_bf16_flops: float  # FLOP/s, dense, at boost_clock_mhz
    boost_clock_mhz: float  # the clock peak_bf16_flops is quoted at (max SM clock)
    hbm_bandwidth_bps: float  # bytes/s
    nvlink_bandwidth_bps: float  # bytes/s per direction per GPU
    memory_bytes: float

    @classmethod
    def h100_sxm(cls) -> GpuPerfSpec:
        # NVIDIA H100 datasheet (SXM5): 1,979 TFLOP/s bf16 *with sparsity* -> 989.4 dense;
        # 3.35 TB/s HBM3; NVLink 4 900 GB/s total = 450 GB/s per direction; 80 GB.
        # Max SM clock 1980 MHz (seen on the lent H100: 345-1980 MHz).
        return cls(
            name="NVIDIA H100 80GB HBM3 (simulated)",
            peak_bf16_flops=989.4e12,
            boost_clock_mhz=1980.0,
            hbm_bandwidth_bps=3.35e12,
            nvlink_bandwidth_bps=450e9,
            memory_bytes=80e9,
        )

    def flops_at(self, sm_clock_mhz: float) -> float:
        """Peak dense bf16 FLOP/s at an SM clock (tensor throughput is clock-linear)."""
        return self.peak_bf16_flops * sm_clock_mhz / self.boost_clock_mhz


@dataclass(frozen=True)
class Calibration:
    """Efficiency and overhead constants of the simulated engine (vLLM-like, bf16).

    Fitted roughly to vLLM 0.26 on one H100 (1.1B Llama shape, /work/shared/device):
    decode TBT ~2.0 ms at batch 1, TTFT p50 25-51 ms for 100-1024-token prompts at
    light load; and sanity-checked against Llama-2-70B at TP8 (TBT ~15-20 ms, TTFT for
    1024 tokens ~90-150 ms across 800-1980 MHz). See docs/simulator.md.
    """

    # Fraction of peak tensor FLOP/s reached by a whole forward pass's compute-bound
    # work (GEMMs plus norms/rotary/activation kernels). Large bf16 GEMMs reach ~0.7 of
    # peak on H100; end-to-end prefill MFU in serving engines is ~0.4-0.6.
    compute_efficiency: float = 0.5
    # Fraction of peak HBM bandwidth reached while streaming weights / KV cache
    # (STREAM-like kernels reach ~0.8-0.9; GEMV-shaped decode GEMMs somewhat less).
    memory_efficiency: float = 0.7
    # Fraction of per-direction NVLink bandwidth an all-reduce achieves as "bus
    # bandwidth" (nccl-tests busbw ~300-370 GB/s of 450 on 8x H100 for MB-sized data).
    link_efficiency: float = 0.7
    # All-reduce latency term: base + per doubling of the TP group (tree/ring steps,
    # barrier skew). ~10-40 us for KB-sized messages (NCCL / vLLM custom all-reduce).
    allreduce_base_latency_s: float = 10e-6
    allreduce_latency_per_log2_tp_s: float = 10e-6
    # Per-iteration host work (scheduling, input preparation, sampling, detokenizing)
    # that the GPU waits for; flat in SM clock.
    iteration_cpu_overhead_s: float = 0.5e-3
    # Kernel-launch gaps per transformer layer (even with CUDA graphs); flat in SM clock.
    per_layer_overhead_s: float = 20e-6
    # Latency-bound small kernels per layer (norms, rotary, activation, residual adds) at
    # the boost clock: they run on the SMs, so their time scales with 1 / SM clock.
    # This is why decode is *nearly*, not exactly, flat in clock.
    per_layer_small_kernels_s: float = 10e-6
    # Power side: how busy the SMs are, as a fraction of a dense bf16 GEMM's SM activity,
    # while (a) attention streams the KV cache (decode attention does its softmax and
    # dot products on CUDA cores) and (b) the small per-layer kernels run. Tensor-core
    # time counts 1. Fitted so that SimGpu's power reproduces the measured energy per
    # token of the 1.1B runs (0.28 J/token at 500->128 8 req/s, 0.058 at 1024->256 32 req/s).
    attention_sm_activity: float = 0.8
    small_kernel_sm_activity: float = 0.5
    # Host work per sequence in the batch (input tensors, sampling, detokenizing).
    per_sequence_overhead_s: float = 10e-6
    # Time a request spends in the HTTP server before the scheduler sees it (parsing,
    # tokenizing, IPC to the engine core) plus streaming the first token back. Fitted
    # to the TTFT p50s measured on the lent H100 (25-51 ms at light load).
    request_overhead_s: float = 0.030

    def with_overrides(self, overrides: dict[str, Any]) -> Calibration:
        """A copy with some constants replaced (e.g. from a ``key=value`` CLI list)."""
        known = set(self.__dataclass_fields__)
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(
                f"unknown calibration constant(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        values: dict[str, float] = {}
        for key, raw in overrides.items():
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"calibration constant {key}={raw!r} is not a number") from None
            if value < 0:
                raise ConfigError(f"calibration constant {key}={value} must be >= 0")
            values[key] = value
        for key in ("compute_efficiency", "memory_efficiency", "link_efficiency"):
            v = values.get(key, getattr(self, key))
            if not 0 < v <= 1:
                raise ConfigError(f"calibration constant {key}={v} must be in (0, 1]")
        return replace(self, **values)
