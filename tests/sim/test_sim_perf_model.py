"""The physics the performance model claims, on real model shapes (no mocks)."""

from __future__ import annotations

import pytest

from greenllm.errors import ConfigError
from greenllm.sim import Calibration, GpuPerfSpec, ModelShape, PerfModel
from simtest_helpers import LLAMA2_7B, LLAMA2_70B, TINY_1B, write_model


@pytest.fixture
def shapes(tmp_path):
    return {
        name: ModelShape.from_config_json(write_model(tmp_path / name, cfg))
        for name, cfg in (("tiny", TINY_1B), ("7b", LLAMA2_7B), ("70b", LLAMA2_70B))
    }


def test_shape_from_config_json_counts_parameters(shapes):
    # Published sizes: TinyLlama 1.1B, Llama-2-7B 6.74B, Llama-2-70B 68.98B.
    assert shapes["tiny"].total_params == pytest.approx(1.10e9, rel=0.01)
    assert shapes["7b"].total_params == pytest.approx(6.74e9, rel=0.01)
    assert shapes["70b"].total_params == pytest.approx(68.98e9, rel=0.01)
    assert shapes["70b"].head_dim == 128 and shapes["70b"].num_kv_heads == 8
    assert shapes["tiny"].name == "tiny"


def test_shape_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        ModelShape.from_config_json(tmp_path / "nope")
    bad = dict(TINY_1B)
    del bad["hidden_size"]
    with pytest.raises(ConfigError, match="hidden_size") as exc:
        ModelShape.from_config_json(write_model(tmp_path / "bad", bad))
    assert "\n" not in str(exc.value)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        ModelShape.from_config_json(tmp_path / "junk")


def test_tensor_parallel_rules_follow_vllm(shapes):
    tiny = shapes["tiny"]  # 32 heads, 4 KV heads
    with pytest.raises(ConfigError, match="does not divide num_attention_heads 32"):
        tiny.check_tensor_parallel(3)
    tiny.check_tensor_parallel(8)  # 8 GPUs, 4 KV heads: each KV head replicated twice
    odd_shape = ModelShape(2048, 22, 12, 3, 5632, 32000, 64)  # 12 heads, 3 KV heads
    with pytest.raises(ConfigError, match="num_key_value_heads 3"):
        odd_shape.check_tensor_parallel(2)
    # replicated KV heads: per-GPU KV bytes stop shrinking once TP exceeds KV heads
    assert (
        tiny.kv_bytes_per_token(8) == tiny.kv_bytes_per_token(4) == tiny.kv_bytes_per_token(1) / 4
    )
    with pytest.raises(ConfigError):
        PerfModel(tiny, tp=3)


def test_prefill_time_scales_inverse_with_clock(shapes):
    perf = PerfModel(shapes["7b"])
    fast = perf.prefill_cost(1024, sm_clock_mhz=1980)
    slow = perf.prefill_cost(1024, sm_clock_mhz=990)
    assert fast.compute_util > 0.8  # compute-bound
    assert 1.85 <= slow.duration_s / fast.duration_s <= 2.0
    # same for the small model, where fixed overheads dilute it more
    tiny = PerfModel(shapes["tiny"])
    ratio = tiny.prefill_cost(1024, 990).duration_s / tiny.prefill_cost(1024, 1980).duration_s
    assert 1.6 <= ratio <= 2.0


def test_decode_nearly_flat_in_clock_at_small_batch(shapes):
    for name in ("tiny", "7b"):
        perf = PerfModel(shapes[name])
        fast = perf.decode_cost(1, 512, sm_clock_mhz=1980)
        slow = perf.decode_cost(1, 512, sm_clock_mhz=990)
        assert fast.memory_s > 10 * fast.compute_s  # memory-bound
        assert 1.0 < slow.duration_s / fast.duration_s < 1.15, name


def test_large_decode_batches_become_clock_sensitive(shapes):
    # short contexts (little KV traffic): at batch 512 the GEMMs turn compute-bound
    perf = PerfModel(shapes["7b"])

    def slowdown(batch: int) -> float:
        return (
            perf.decode_cost(batch, 32, 990).duration_s
            / perf.decode_cost(batch, 32, 1980).duration_s
        )

    assert slowdown(512) > slowdown(1) + 0.2


def test_tensor_parallel_lowers_latency_sublinearly(shapes):
    costs = {tp: PerfModel(shapes["70b"], tp=tp) for tp in (2, 4, 8)}
    for price in (lambda p: p.decode_cost(8, 600), lambda p: p.prefill_cost(1024)):
        t = {tp: price(p).duration_s for tp, p in costs.items()}
        assert t[2] > t[4] > t[8]
        assert t[8] > t[2] / 4  # communication and fixed overheads: not linear
        comm = {tp: price(p).comm_s for tp, p in costs.items()}
        assert comm[2] < comm[4] < comm[8]


def test_llama70b_tp8_latencies_in_expected_range(shapes):
    # TTFT floor: was 80 ms, a guess (no source). The H100 reference contradicts it: a
    # 1024-token prompt of the 13B shape at TP1 sent alone took 52 ms to its first token
    # (reports/reference/h100-2026-11-25-s2, baseline L-L), and per GPU a 70B TP8
    # prefill does 2/3 of that one's FLOPs (plus ~10-15 ms of all-reduces). 50 ms keeps
    # a floor that a constant off by a factor (e.g. no request overhead) still breaks.
    perf = PerfModel(shapes["70b"], tp=8)
    overhead = perf.cal.request_overhead_s
    for clock in (800, 1980):
        tbt = perf.decode_cost(16, 700, clock).duration_s
        ttft = overhead + perf.prefill_cost(1024, clock).duration_s
        assert 0.012 < tbt < 0.040, (clock, tbt)
        assert 0.050 < ttft < 0.300, (clock, ttft)


def test_iteration_cost_is_consistent(shapes):
    perf = PerfModel(shapes["tiny"])
    cost = perf.iteration_cost(prefill_chunks=[(300, 200)], decode_context_lens=[100, 900, 40])
    assert cost.num_tokens == 303
    assert 0 <= cost.compute_util <= 1 and 0 <= cost.memory_util <= 1
    assert cost.duration_s >= cost.overhead_s + max(cost.compute_s, cost.memory_s) * 0.5
    empty = perf.iteration_cost()
    assert empty.duration_s == 0 and empty.compute_util == 0
    # longer contexts read more KV cache: decode gets slower
    assert perf.decode_cost(32, 2000).duration_s > perf.decode_cost(32, 100).duration_s
    with pytest.raises(ConfigError):
        perf.iteration_cost(decode_context_lens=[1], sm_clock_mhz=0)


def test_calibration_constants_change_the_model(shapes):
    base = PerfModel(shapes["7b"])
    faster = PerfModel(
        shapes["7b"], calibration=Calibration().with_overrides({"compute_efficiency": 1.0})
    )
    b, f = base.prefill_cost(2048), faster.prefill_cost(2048)
    assert f.compute_s == pytest.approx(b.compute_s / 2)
    with pytest.raises(ConfigError, match="unknown calibration"):
        Calibration().with_overrides({"warp_speed": 1})
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        Calibration().with_overrides({"memory_efficiency": 1.5})
    # the H100 spec: dense bf16 peak is half the sparse datasheet figure, clock-linear
    spec = GpuPerfSpec.h100_sxm()
    assert spec.flops_at(990) == pytest.approx(spec.peak_bf16_flops / 2)


def test_h200_streams_memory_faster_and_computes_the_same(shapes):
    """The H200 is the H100's compute with 4.8 instead of 3.35 TB/s of HBM: decode
    (weights and KV streamed from HBM) speeds up by at most that ratio, prefill
    (compute-bound) and the clock range do not change."""
    h100, h200 = GpuPerfSpec.h100_sxm(), GpuPerfSpec.h200()
    assert h200.hbm_bandwidth_bps / h100.hbm_bandwidth_bps == pytest.approx(4.8 / 3.35)
    assert (h200.peak_bf16_flops, h200.boost_clock_mhz) == (h100.peak_bf16_flops,
                                                            h100.boost_clock_mhz)
    assert GpuPerfSpec.for_profile("h200") == h200
    with pytest.raises(ConfigError, match="no simulated performance spec for gpu profile 'b200'"):
        GpuPerfSpec.for_profile("b200")
    a, b = PerfModel(shapes["7b"], h100), PerfModel(shapes["7b"], h200)
    dec_a, dec_b = a.decode_cost(8, 600), b.decode_cost(8, 600)
    assert dec_b.memory_s == pytest.approx(dec_a.memory_s * 3.35 / 4.8, rel=1e-9)
    speedup = dec_a.duration_s / dec_b.duration_s
    assert 1.1 < speedup < 4.8 / 3.35  # the flat host overheads do not shrink
    pre_a, pre_b = a.prefill_cost(2048), b.prefill_cost(2048)
    assert pre_b.compute_s == pytest.approx(pre_a.compute_s, rel=1e-9)
    assert pre_b.duration_s == pytest.approx(pre_a.duration_s, rel=0.05)
