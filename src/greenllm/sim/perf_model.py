"""How long one continuous-batching iteration takes, and how busy it keeps the GPU.

One iteration runs every scheduled token of a batch (prefill chunks and decode tokens)
through the model once on each GPU of a tensor-parallel group. Per GPU:

  linear  = max(linear FLOPs / F(clock),  weight bytes / B)      GEMMs: roofline
  attn    = max(attention FLOPs / F(clock), KV bytes / B)         attention: roofline
  comm    = 2 L x all-reduce(T tokens x hidden x 2 bytes)         TP only, flat in clock
  small   = L x small-kernel time x boost clock / clock           latency-bound kernels
  host    = cpu + L x per-layer gaps + per-sequence host work     flat in clock
  duration = linear + attn + small + comm + host

with F(clock) = peak FLOP/s x clock / boost clock x compute efficiency and B = HBM
bandwidth x memory efficiency x memory clock / highest memory clock (bandwidth taken as
proportional to the memory clock: an assumption, docs/calibration.md). Linear layers and attention are separate kernels, so
each is its own roofline and their times add; within one kernel class compute and
memory traffic overlap (max). Constants: ``greenllm.sim.hardware``; equations and
sources: docs/simulator.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from greenllm.errors import ConfigError
from greenllm.sim.hardware import Calibration, GpuPerfSpec
from greenllm.sim.model_shape import ModelShape


@dataclass(frozen=True)
class IterationCost:
    """The simulated cost of one iteration on each GPU of the instance (all equal under TP)."""

    duration_s: float
    compute_s: float  # tensor-core busy time (linear + attention FLOPs at the clock)
    memory_s: float  # HBM busy time (weights + KV cache)
    comm_s: float  # TP all-reduces
    overhead_s: float  # host/launch work the GPU waits for
    compute_util: float  # SM activity / duration_s, 0..1: drives SimGpu power
    memory_util: float  # memory_s / duration_s, 0..1
    flops_per_gpu: float
    bytes_per_gpu: float
    sm_clock_mhz: float
    num_tokens: int  # new tokens processed (prefill + decode)


class BatchLike(Protocol):
    """What the performance model needs to know about a scheduled batch."""

    @property
    def prefill_chunks(self) -> Sequence[tuple[int, int]]: ...  # (new tokens, already cached)

    @property
    def decode_context_lens(self) -> Sequence[int]: ...  # tokens attended by each decode

    @property
    def num_sampled(self) -> int: ...  # sequences that emit a token this iteration


def cudagraph_max_tokens(max_num_seqs: int) -> int:
    """Largest batch (in tokens) vLLM captures a CUDA graph for by default.

    ``VllmConfig._set_cudagraph_sizes`` (vllm/config/vllm.py): ``max_graph_size =
    min(max_num_seqs * 2, 512)``; larger batches run without a graph.
    """
    return min(2 * int(max_num_seqs), 512)


class PerfModel:
    """Iteration-level performance model for one engine instance (model x GPU x TP).

    ``max_num_seqs`` (the engine's batch cap) sets which batches run as a CUDA graph
    (``cudagraph_max_tokens``); without it every batch is priced as graph-launched.
    """

    def __init__(
        self,
        shape: ModelShape,
        gpu: GpuPerfSpec | None = None,
        tp: int = 1,
        calibration: Calibration | None = None,
        max_num_seqs: int | None = None,
    ):
        shape.check_tensor_parallel(tp)
        if max_num_seqs is not None and max_num_seqs < 1:
            raise ConfigError(f"max_num_seqs must be >= 1, got {max_num_seqs}")
        self.shape = shape
        self.gpu = gpu or GpuPerfSpec.h100_sxm()
        self.tp = tp
        self.cal = calibration or Calibration()
        self.max_num_seqs = max_num_seqs
        self.graph_max_tokens = (
            cudagraph_max_tokens(max_num_seqs) if max_num_seqs is not None else None
        )
        s, c = shape, self.cal
        # Per GPU: every weight matrix is split TP ways (vocab-parallel LM head too).
        self.layer_weight_bytes_per_gpu = s.num_layers * s.params_per_layer * s.dtype_bytes / tp
        self.lm_head_bytes_per_gpu = s.lm_head_params * s.dtype_bytes / tp
        self.weight_bytes_per_gpu = self.layer_weight_bytes_per_gpu + self.lm_head_bytes_per_gpu
        self.linear_flops_per_token = 2.0 * s.num_layers * s.params_per_layer / tp
        self.lm_head_flops_per_sample = 2.0 * s.lm_head_params / tp
        # QK^T and PV: 2 matmuls x 2 FLOP per multiply-add, per attended (query, key) pair.
        self.attn_flops_per_pair = 4.0 * s.q_dim * s.num_layers / tp
        self.kv_bytes_per_token = s.kv_bytes_per_token(tp)
        self.allreduce_bytes_per_token = s.hidden_size * s.dtype_bytes
        self.allreduces_per_iteration = 2 * s.num_layers if tp > 1 else 0
        self._allreduce_latency_s = (
            c.allreduce_base_latency_s + c.allreduce_latency_per_log2_tp_s * math.log2(tp)
            if tp > 1
            else 0.0
        )
        self._ring_factor = 2.0 * (tp - 1) / tp
        self._link_bps = self.gpu.nvlink_bandwidth_bps * c.link_efficiency
        self._hbm_bps = self.gpu.hbm_bandwidth_bps * c.memory_efficiency
        self._kv_bps = self.gpu.hbm_bandwidth_bps * c.kv_memory_efficiency
        self._fixed_overhead_s = c.iteration_cpu_overhead_s
        self._graph_launch_s = c.per_layer_overhead_s * s.num_layers
        self._eager_launch_s = c.eager_per_layer_s * s.num_layers
        self._small_kernels_at_boost_s = c.per_layer_small_kernels_s * s.num_layers

    def with_max_num_seqs(self, max_num_seqs: int) -> PerfModel:
        """The same model for an engine with this batch cap (CUDA-graph sizes follow it)."""
        if max_num_seqs == self.max_num_seqs:
            return self
        return PerfModel(self.shape, self.gpu, self.tp, self.cal, max_num_seqs)

    # --- the model ------------------------------------------------------------------
    def iteration_cost(
        self,
        *,
        prefill_chunks: Iterable[tuple[int, int]] = (),
        decode_context_lens: Sequence[int] = (),
        sm_clock_mhz: float | None = None,
        num_sampled: int | None = None,
        memory_clock_ratio: float = 1.0,
    ) -> IterationCost:
        """Cost of one iteration.

        ``prefill_chunks``: (new tokens, tokens already in the KV cache) per prefilling
        sequence. ``decode_context_lens``: KV length each decode token attends to
        (including itself). ``num_sampled``: sequences that run the LM head this
        iteration (decodes + prefills that finish); default: all sequences.
        ``memory_clock_ratio``: the memory clock over the card's highest; HBM bandwidth
        scales with it (weight and KV streaming slow down, FLOPs do not).
        """
        if not memory_clock_ratio > 0:
            raise ConfigError(f"memory clock ratio must be positive, got {memory_clock_ratio}")
        clock = self.gpu.boost_clock_mhz if sm_clock_mhz is None else float(sm_clock_mhz)
        if not clock > 0:
            raise ConfigError(f"SM clock must be positive, got {sm_clock_mhz}")
        prefill_tokens = 0
        pairs = 0.0
        kv_tokens = 0.0  # KV entries read + written
        n_prefill = 0
        for new, cached in prefill_chunks:
            n_prefill += 1
            prefill_tokens += new
            pairs += new * cached + new * (new + 1) / 2.0  # causal
            kv_tokens += cached + 2 * new  # read cache + own keys, write new entries
        n_decode = len(decode_context_lens)
        ctx_sum = float(sum(decode_context_lens))
        pairs += ctx_sum
        kv_tokens += ctx_sum + n_decode
        tokens = prefill_tokens + n_decode
        n_seqs = n_prefill + n_decode
        sampled = n_seqs if num_sampled is None else num_sampled

        flops_per_s = self.gpu.flops_at(clock) * self.cal.compute_efficiency
        linear_flops = (
            self.linear_flops_per_token * tokens + self.lm_head_flops_per_sample * sampled
        )
        attn_flops = self.attn_flops_per_pair * pairs
        lm_bytes = self.lm_head_bytes_per_gpu if sampled else 0.0
        weight_bytes = (self.layer_weight_bytes_per_gpu + lm_bytes) if tokens else 0.0
        kv_bytes = self.kv_bytes_per_token * kv_tokens

        hbm_bps, kv_bps = self._hbm_bps * memory_clock_ratio, self._kv_bps * memory_clock_ratio
        linear_c, linear_m = linear_flops / flops_per_s, weight_bytes / hbm_bps
        attn_c, attn_m = attn_flops / flops_per_s, kv_bytes / kv_bps
        # latency-bound small kernels run on the SMs: their time scales with 1 / clock
        small_s = (
            self._small_kernels_at_boost_s * self.gpu.boost_clock_mhz / clock if tokens else 0.0
        )
        gpu_s = max(linear_c, linear_m) + max(attn_c, attn_m) + small_s
        comm_s = 0.0
        if self.allreduces_per_iteration and tokens:
            per_ar = self._allreduce_latency_s + (
                self._ring_factor * tokens * self.allreduce_bytes_per_token / self._link_bps
            )
            comm_s = self.allreduces_per_iteration * per_ar
        overhead_s = 0.0
        if tokens:
            overhead_s = self._fixed_overhead_s + self.cal.per_sequence_overhead_s * n_seqs
            if self.graph_max_tokens is not None and tokens > self.graph_max_tokens:
                # No CUDA graph: the CPU launches every kernel of every layer; the GPU
                # runs behind it, so the pass takes the longer of the two.
                launch_wait = max(0.0, self._eager_launch_s - gpu_s - comm_s)
            else:
                launch_wait = self._graph_launch_s  # gaps between graph-launched kernels
            overhead_s += launch_wait
        duration = gpu_s + comm_s + overhead_s
        compute_s = linear_c + attn_c
        memory_s = linear_m + attn_m
        # SM activity for the power model: tensor-core time, plus CUDA-core work while
        # attention streams KV, plus small kernels (hardware.Calibration explains).
        sm_busy_s = (
            compute_s
            + self.cal.attention_sm_activity * max(0.0, attn_m - attn_c)
            + self.cal.small_kernel_sm_activity * small_s
        )
        return IterationCost(
            duration_s=duration,
            compute_s=compute_s,
            memory_s=memory_s,
            comm_s=comm_s,
            overhead_s=overhead_s,
            compute_util=min(1.0, sm_busy_s / duration) if duration else 0.0,
            memory_util=min(1.0, memory_s / duration) if duration else 0.0,
            flops_per_gpu=linear_flops + attn_flops,
            bytes_per_gpu=weight_bytes + kv_bytes,
            sm_clock_mhz=clock,
            num_tokens=tokens,
        )

    def batch_cost(self, batch: BatchLike, sm_clock_mhz: float | None = None,
                   memory_clock_ratio: float = 1.0) -> IterationCost:
        """Cost of a scheduler batch (``greenllm.sim.scheduler.ScheduledBatch``)."""
        return self.iteration_cost(
            prefill_chunks=batch.prefill_chunks,
            decode_context_lens=batch.decode_context_lens,
            memory_clock_ratio=memory_clock_ratio,
            sm_clock_mhz=sm_clock_mhz,
            num_sampled=batch.num_sampled,
        )

    # --- conveniences for tests, docs and sanity checks -----------------------------
    def prefill_cost(self, prompt_tokens: int, sm_clock_mhz: float | None = None) -> IterationCost:
        """One whole prompt prefilled alone in one iteration (no chunking)."""
        return self.iteration_cost(prefill_chunks=[(prompt_tokens, 0)], sm_clock_mhz=sm_clock_mhz)

    def decode_cost(
        self, batch_size: int, context_len: int, sm_clock_mhz: float | None = None
    ) -> IterationCost:
        """A pure decode iteration of ``batch_size`` sequences of ``context_len`` tokens."""
        return self.iteration_cost(
            decode_context_lens=[context_len] * batch_size, sm_clock_mhz=sm_clock_mhz
        )
