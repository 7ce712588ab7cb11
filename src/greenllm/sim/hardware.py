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

    @classmethod
    def h200(cls) -> GpuPerfSpec:
        # NVIDIA H200 datasheet (SXM): the H100's GH100 compute (1,979 TFLOP/s bf16 with
        # sparsity -> 989.4 dense, same SM clocks: 345-1980 MHz on the lent H200) with
        # 141 GB of HBM3e at 4.8 TB/s (H100: 3.35); NVLink 4 900 GB/s total. Nothing here
        # is fitted to an H200 measurement yet (docs/calibration.md).
        return cls(
            name="NVIDIA H200 (simulated)",
            peak_bf16_flops=989.4e12,
            boost_clock_mhz=1980.0,
            hbm_bandwidth_bps=4.8e12,
            nvlink_bandwidth_bps=450e9,
            memory_bytes=141e9,
        )

    @classmethod
    def for_profile(cls, profile: str) -> GpuPerfSpec:
        """The spec of a greenllm GPU profile name (``gpu.name``), e.g. ``h200``."""
        makers = {"h100-sxm": cls.h100_sxm, "h200": cls.h200}
        if profile not in makers:
            raise ConfigError(f"no simulated performance spec for gpu profile {profile!r} "
                              f"(simulated: {', '.join(makers)})")
        return makers[profile]()

    def flops_at(self, sm_clock_mhz: float) -> float:
        """Peak dense bf16 FLOP/s at an SM clock (tensor throughput is clock-linear)."""
        return self.peak_bf16_flops * sm_clock_mhz / self.boost_clock_mhz


@dataclass(frozen=True)
class Calibration:
    """Efficiency and overhead constants of the simulated engine (vLLM-like, bf16).

    Fitted to the reference datasets reports/reference/h100-2026-11-25 and
    h100-2026-11-25-s2 (vLLM 0.26 on one H100 SXM at its own 1980 MHz clock: 1.1B, 7B
    and 13B Llama shapes, max batch 4/16/64, workloads S-S/M-M/L-L at up to three loads) with ``python -m greenllm.calibrate.calibration_check``;
    the fit, its error per metric and what constrained it are in docs/calibration.md.
    Constants without a "fit" note keep their earlier, literature-based values.
    """

    # Fraction of peak tensor FLOP/s reached by a whole forward pass's compute-bound
    # work (GEMMs plus norms/rotary/activation kernels). Large bf16 GEMMs reach ~0.7 of
    # peak on H100 (the lent card: 673 TFLOP/s in a matmul loop); end-to-end prefill MFU
    # in serving engines is ~0.4-0.6. The reference's low-load TTFT prefers ~0.7, its
    # 7B/13B M-M/L-L max throughput (prefill-heavy iterations at sustained load, at the
    # power cap) 0.5; 0.5 fits all metrics best (docs/calibration.md).
    compute_efficiency: float = 0.5
    # Fraction of peak HBM bandwidth reached while streaming weights (large GEMV-shaped
    # decode GEMMs; ~3.0 of 3.35 TB/s). Fit: Llama-2-7B batch-1 TBT 6.0 ms.
    memory_efficiency: float = 0.9
    # The same for attention reading the paged KV cache (16-token blocks per KV head,
    # scattered reads): lower than streaming weights. Fit: Llama-2-7B (no GQA, 0.5 MB of
    # KV per token) TBT growth with load and its max throughput for M-M and L-L.
    kv_memory_efficiency: float = 0.6
    # Fraction of per-direction NVLink bandwidth an all-reduce achieves as "bus
    # bandwidth" (nccl-tests busbw ~300-370 GB/s of 450 on 8x H100 for MB-sized data).
    link_efficiency: float = 0.7
    # All-reduce latency term: base + per doubling of the TP group (tree/ring steps,
    # barrier skew). ~10-40 us for KB-sized messages (NCCL / vLLM custom all-reduce).
    allreduce_base_latency_s: float = 10e-6
    allreduce_latency_per_log2_tp_s: float = 10e-6
    # Per-iteration host work (scheduling, input preparation, sampling, detokenizing)
    # that the GPU waits for; flat in SM clock. Fit: 1.1B TBT p50 2.1-2.4 ms at light load.
    iteration_cpu_overhead_s: float = 0.75e-3
    # Kernel-launch gaps per transformer layer (even with CUDA graphs); flat in SM clock.
    per_layer_overhead_s: float = 20e-6
    # CPU time per transformer layer to launch its kernels when a batch runs without a
    # CUDA graph (vLLM captures graphs only up to min(2 x max_num_seqs, 512) tokens):
    # the GPU waits for the launches whenever its own work per layer is shorter. Fit:
    # the 1.1B TTFT step from 100-token to 500/1024-token prompts (16 -> 25-30 ms) and
    # its max throughput for M-M and L-L (TBT p90 of decodes batched with prefills).
    eager_per_layer_s: float = 0.5e-3
    # Latency-bound small kernels per layer (norms, rotary, activation, residual adds) at
    # the boost clock: they run on the SMs, so their time scales with 1 / SM clock.
    # This is why decode is *nearly*, not exactly, flat in clock.
    per_layer_small_kernels_s: float = 10e-6
    # Power side: how busy the SMs are, as a fraction of a dense bf16 GEMM's SM activity,
    # while (a) attention streams the KV cache (decode attention does its softmax and
    # dot products on CUDA cores) and (b) the small per-layer kernels run (few SMs
    # busy at decode batch sizes). Tensor-core time counts 1. Fit (with SimGpuSpec's
    # clock_base_w): mean power of every reference load point.
    attention_sm_activity: float = 0.5
    small_kernel_sm_activity: float = 0.1
    # Host work per sequence in the batch (input tensors, sampling, detokenizing). Fit:
    # 1.1B TBT rising with the batch (2.1 -> 2.5-3 ms).
    per_sequence_overhead_s: float = 20e-6
    # Time from sending a request until the scheduler sees it (HTTP, API server, IPC to
    # the engine core) plus streaming the first token back; flat in prompt length and
    # model size. Fit: 100-token prompts sent alone take 16-20 ms on the 1.1B shape
    # (prefill ~2 ms) and 24 ms on the 13B (prefill ~9 ms); both reference sets'
    # TTFT p50 (docs/calibration.md). Was 20 ms, held up by a guessed 70B TP8 TTFT floor.
    request_overhead_s: float = 0.016
    # Virtual time only (greenllm.sim.offline): the part of request_overhead_s that is
    # serial work of the API server (one process in front of the engine core). While it
    # handles a request it delivers no tokens, so streams stall: TBT tails under load,
    # and a request-rate limit for small models. Fit: max throughput under SLO of the
    # 1.1B S-S cells (46-80 req/s measured).
    frontend_request_s: float = 0.009

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
        for key in ("compute_efficiency", "memory_efficiency", "kv_memory_efficiency",
                    "link_efficiency"):
            v = values.get(key, getattr(self, key))
            if not 0 < v <= 1:
                raise ConfigError(f"calibration constant {key}={v} must be in (0, 1]")
        return replace(self, **values)
