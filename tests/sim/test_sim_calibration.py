"""The simulator against what vLLM 0.26 measured on the lent H100 (virtual time, no sleeping).

Run-to-run spread of the real measurements is large (TTFT p50 of one setting ranged
34-43 ms), so the bands are wide; they still catch a constant that drifts by a factor.
"""

from __future__ import annotations

import pytest

from greenllm.sim import PerfModel
from greenllm.sim.offline import LLAMA2_70B, MEASURED_1B, TINY_LLAMA_1B, simulate_load


@pytest.mark.parametrize("inp, out, rate, ttft_ms, tbt_ms, j_per_token", MEASURED_1B)
def test_1b_shape_matches_measured_vllm(inp, out, rate, ttft_ms, tbt_ms, j_per_token):
    res = simulate_load(
        PerfModel(TINY_LLAMA_1B),
        input_tokens=inp,
        output_tokens=out,
        rate_rps=rate,
        n_requests=150,
        max_num_seqs=64,
    )
    assert len(res.ttft_s) == 150 and res.output_tokens == 150 * out
    assert res.itl_p50_s * 1e3 == pytest.approx(tbt_ms, rel=0.3)
    assert ttft_ms / 2 < res.ttft_p50_s * 1e3 < ttft_ms * 2
    if j_per_token is not None:
        assert res.j_per_token == pytest.approx(j_per_token, rel=0.3)


def test_power_cap_binds_under_heavy_prefill_load():
    res = simulate_load(
        PerfModel(TINY_LLAMA_1B),
        input_tokens=1024,
        output_tokens=256,
        rate_rps=32,
        n_requests=150,
        max_num_seqs=64,
    )
    assert res.max_power_w == pytest.approx(700, abs=1)  # measured peak: 711 W
    assert res.mean_busy_clock_mhz < 1980


def test_lower_clock_saves_energy_per_token_at_light_load():
    # the paper's central trade-off: at low load a lower clock costs little latency
    perf = PerfModel(LLAMA2_70B, tp=4)
    runs = {
        mhz: simulate_load(
            perf,
            input_tokens=500,
            output_tokens=128,
            rate_rps=0.5,
            n_requests=20,
            locked_clock_mhz=mhz,
        )
        for mhz in (1980, 1200)
    }
    assert runs[1200].j_per_token < 0.9 * runs[1980].j_per_token
    assert runs[1200].itl_p50_s < 1.1 * runs[1980].itl_p50_s
    assert runs[1200].ttft_p50_s > runs[1980].ttft_p50_s
