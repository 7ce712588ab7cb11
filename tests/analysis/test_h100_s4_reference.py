"""The fourth H100 session's saved results, analysed again from the repository: sampler
overhead by waves (benchmarks/sampler_vllm_overhead.py pool) and the mixed-step probe
(benchmarks/mixed_step_probe.py --reanalyse); the numbers docs/h100.md states."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
S4 = ROOT / "reports/reference/h100-2026-11-25-s4"


def bench(tmp_path: Path, script: str, *args: str) -> dict:
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args,
                          "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("shape, bound", [("llama2-13b", 0.0016), ("llama2-7b", 0.0037)])
def test_gpu_bound_shapes_show_the_sampler_costs_under_half_a_percent(tmp_path, shape, bound):
    pooled = bench(tmp_path, "sampler_vllm_overhead.py", "pool",
                   str(S4 / f"overhead/overhead-waves-{shape}-S-L.json"))["pooled"]
    assert pooled["goal_met"] and pooled["overhead_upper"] == pytest.approx(bound, abs=5e-5)


def test_the_host_bound_shape_does_not_resolve_half_a_percent(tmp_path):
    pooled = bench(tmp_path, "sampler_vllm_overhead.py", "pool",
                   str(S4 / "overhead/overhead-waves-llama-1b-S-L.json"))["pooled"]
    assert not pooled["goal_met"] and pooled["overhead_upper"] > 0.03


def test_admitting_a_request_costs_the_1b_engine_steps_but_not_the_13b_one(tmp_path):
    def excess(shape: str) -> dict[int, float]:
        doc = bench(tmp_path, "mixed_step_probe.py", "--reanalyse",
                    str(S4 / f"mixed-step/mixed-raw-{shape}"))
        return {p["prompt_tokens"]: p["excess_ms"] for p in doc["probes"]}

    small, large = excess("llama-1b"), excess("llama2-13b")
    # under the CUDA-graph capture size (8 decodes + P <= 128 tokens)
    assert all(5.0 < small[p] < 9.0 for p in (8, 32, 100))
    assert all(abs(large[p]) < 2.0 for p in (8, 32, 100))
    # above it (no graph): both pay
    assert all(small[p] > 10.0 and large[p] > 8.0 for p in (200, 500))
