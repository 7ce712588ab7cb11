"""One validation pass before anything starts (measure/preflight.py): every problem at
once, one line each, the same facts the engine meets, and nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from greenllm import plan as gplan
from greenllm.cli.main import main
from greenllm.errors import ConfigError
from greenllm.measure.compose import compose
from greenllm.measure.preflight import plan_problems, problems

ROOT = Path(__file__).resolve().parents[2]
SIM = ["model=llama-1b", "engine=sim", "instance=tp1", "workload=smoke"]


def check(tmp_path: Path, capsys, *overrides: str) -> tuple[int, list[str]]:
    code = main(["measure", "--check", f"out_dir={tmp_path / 'raw'}", *overrides])
    err = capsys.readouterr().err
    return code, [ln for ln in err.splitlines() if ln.strip()]


def folder(path: Path, config: dict, tokenizer: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(config))
    if tokenizer:
        (path / "tokenizer.json").write_text("{}")
    return path


def test_every_problem_at_once_one_line_each(tmp_path, capsys):
    code, lines = check(tmp_path, capsys, *SIM, "clocks.mhz=[5000]", "load.arrival=burst",
                        "slo.scale=0.5", "workload.ids=[S-S,Q-Q]", "gpu.sim_count=8",
                        "instance.gpus=[9]")
    assert code == 2
    assert len(lines) == 5, lines
    assert all(ln.startswith("greenllm: error: ") for ln in lines)
    for word in ("5000 MHz", "load.arrival", "slo.scale", "Q-Q", "instance.gpus has 9"):
        assert sum(word in ln for ln in lines) == 1, (word, lines)
    assert not (tmp_path / "raw").exists()


def test_check_passes_and_writes_nothing(tmp_path, capsys):
    code, lines = check(tmp_path, capsys, *SIM, f"model.path={tmp_path / 'model'}")
    assert code == 0 and "check passed" in lines[-1]
    assert not (tmp_path / "raw").exists() and not (tmp_path / "model").exists()


def test_context_length_comes_from_the_folders_own_config(tmp_path):
    m = folder(tmp_path / "m", {"max_position_embeddings": 512, "num_attention_heads": 32,
                                "num_key_value_heads": 4})
    cfg = compose([f"out_dir={tmp_path / 'raw'}", *SIM, "workload=paper", f"model.path={m}"])
    found = problems(cfg, host=False)
    assert len(found) == 1 and "max_position_embeddings=512" in found[0]
    assert str(m / "config.json") in found[0]


def test_tokenizer_is_required_only_by_an_engine_that_needs_one(tmp_path):
    m = folder(tmp_path / "m", {"max_position_embeddings": 4096}, tokenizer=False)
    base = [f"out_dir={tmp_path / 'raw'}", "model=llama-1b", "instance=tp1", "workload=smoke",
            f"model.path={m}"]
    assert problems(compose([*base, "engine=sim"]), host=False) == []
    found = problems(compose([*base, "engine=vllm"]), host=False)
    assert len(found) == 1 and "no tokenizer" in found[0] and "engine=vllm" in found[0]


def test_folder_heads_decide_tp(tmp_path):
    m = folder(tmp_path / "m", {"max_position_embeddings": 4096, "num_attention_heads": 6,
                                "num_key_value_heads": 6})
    cfg = compose([f"out_dir={tmp_path / 'raw'}", *SIM, "instance.tp=4", f"model.path={m}"])
    found = problems(cfg, host=False)
    assert len(found) == 1 and "6 attention heads" in found[0]


def test_vllm_missing_is_found_before_gpus_or_files(tmp_path, capsys):
    pytest.importorskip("greenllm")
    from greenllm.engine.vllm import vllm_version

    if vllm_version() is not None:
        pytest.skip("vLLM is installed here")
    code = main(["measure", f"out_dir={tmp_path / 'raw'}", "model=llama-1b", "engine=vllm",
                 "instance=tp1", "workload=smoke", f"model.path={tmp_path / 'model'}"])
    err = capsys.readouterr().err
    assert code == 2 and "vLLM is not installed" in err
    assert not (tmp_path / "raw").exists() and not (tmp_path / "model").exists()


@pytest.mark.parametrize("overrides, expect", [
    (["instance.tp=16", "instance.gpus=[0,1]"], "lists 2 GPU(s) but instance.tp=16"),
    (["gpu.sim_count=8", "instance.tp=16"], "needs 16 GPUs but the simulated node has 8"),
    (["gpu.sim_count=8", "instance.gpus=[8]"], "simulated node has GPUs 0-7"),
    (["instance.tp=2", "instance.gpus=[3,3]"], "more than once"),
    (["gpu.sim_count=2", "instance.gpus=[7]"], "GPUs 0-1"),
])
def test_simulated_node_enforces_the_gpu_list(tmp_path, capsys, overrides, expect):
    code, lines = check(tmp_path, capsys, *SIM, *overrides)
    assert code == 2 and len(lines) == 1 and expect in lines[0], lines


def test_schema_carries_the_gpu_clock_range(tmp_path):
    group = yaml.safe_load((ROOT / "config/measure/gpu/h100-sxm.yaml").read_text())
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    (rule,) = [r for r in schema["allOf"] if r["if"]["properties"]["gpu"]["const"] == "h100-sxm"]
    items = rule["then"]["properties"]["clocks"]["properties"]["mhz"]["items"]
    assert (items["minimum"], items["maximum"]) == (group["min_sm_clock_mhz"],
                                                    group["max_sm_clock_mhz"])
    for mhz, ok in ((1980, True), (2000, False), (10000, False)):
        cfg = {"preset": "smoke", "clocks": {"mode": "pin", "mhz": [mhz]}}
        if ok:
            gplan.plan_from_config(cfg, root=ROOT)
        else:
            with pytest.raises(ConfigError, match=f"{mhz} is greater than the maximum"):
                gplan.plan_from_config(cfg, root=ROOT)


def test_workflow_runs_the_same_pass_per_instance(tmp_path):
    plan = gplan.plan_from_config({"preset": "smoke", "engine": "sim",
                                   "results_dir": str(tmp_path / "results"),
                                   "measure_overrides": ["gpu.sim_count=8",
                                                         "instance.gpus=[9]"]}, root=ROOT)
    found = plan_problems(plan, ROOT)
    assert len(found) >= len(plan.instances)
    assert all(ln.startswith("instance ") and "\n" not in ln for ln in found)
    assert any("instance.gpus has 9" in ln for ln in found)


def test_snakemake_dry_run_shows_the_pass(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--config", "preset=smoke", "engine=sim",
         f"results_dir={tmp_path / 'results'}", 'measure_overrides=["gpu.sim_count=8","instance.gpus=[9]"]'],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    assert "instance.gpus has 9, but the simulated node has GPUs 0-7" in run.stdout + run.stderr
    assert not (tmp_path / "results").exists()


def test_simulated_engine_measures_the_gpu_named(tmp_path, monkeypatch, capsys):
    """instance.gpus=[7] loads and samples simulated GPU 7, not GPU 0 (issue 14)."""
    import pandas as pd
    from safety_helpers import TINY

    from greenllm.gpu.sim import SimGpu

    monkeypatch.setenv("GREENLLM_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "raw"
    code = main(["measure", f"out_dir={out}", f"model.path={tmp_path / 'model'}", *TINY,
                 "clocks.mhz=[1980]", "instance.gpus=[7]"])
    assert code == 0, capsys.readouterr().err[-2000:]
    cell = out / "cells/f1980/S-S"
    assert json.loads((cell / "summary.json").read_text())["instance"]["gpu_indices"] == [7]
    assert set(pd.read_parquet(cell / "telemetry.r0.parquet")["gpu"]) == {7}
    gpu = SimGpu.open(out / "simgpu.state")
    try:
        assert gpu.count == 8
        # the engine's load went to GPU 7: it used more energy than idle GPU 0
        assert gpu.sample(7).energy_mj > 1.1 * gpu.sample(0).energy_mj
    finally:
        gpu.close()


@pytest.mark.parametrize("overrides", [
    [], ["load.repeats=0", "engine.port=99999", "clocks.mhz=[5000]", "model.shape.vocab_size=2"],
])
def test_same_problems_from_the_hydra_config_and_the_typed_settings(tmp_path, overrides):
    """The app layer may pass the Hydra config or the typed dataclasses below it."""
    from omegaconf import OmegaConf

    cfg = compose([f"out_dir={tmp_path / 'raw'}", *SIM, f"model.path={tmp_path / 'm'}",
                   *overrides])
    typed = OmegaConf.to_object(cfg)
    assert type(typed).__name__ == "MeasureCfg"
    assert problems(typed, host=False) == problems(cfg, host=False)
    assert len(problems(cfg, host=False)) == len(overrides)
