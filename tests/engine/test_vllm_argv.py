"""The vllm serve argv is built from config, as a list, with the settings the paper needs."""

from __future__ import annotations

from pathlib import Path

from greenllm.engine.launch import engine_argv, engine_env, engine_spec
from greenllm.measure.compose import compose


def _spec(tmp_path: Path, *overrides: str):
    cfg = compose([f"out_dir={tmp_path}", *overrides])
    spec = engine_spec(cfg, model_dir=tmp_path / "m", out_dir=tmp_path, max_model_len=1296,
                       gpu_uuids=["GPU-a", "GPU-b"], gpu_indices=[0, 1], sim_state_path=tmp_path / "s")
    return cfg, spec


def test_vllm_argv_from_config(tmp_path):
    cfg, spec = _spec(tmp_path, "instance.tp=2", "instance.max_batch=16",
                      "engine.extra_args=[--enforce-eager]", "engine.max_num_batched_tokens=4096")
    argv = engine_argv(spec, cfg)
    assert "serve" in argv and str(tmp_path / "m") in argv
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--tensor-parallel-size"] == "2"
    assert pairs["--max-num-seqs"] == "16"
    assert pairs["--max-model-len"] == "1296"
    assert pairs["--load-format"] == "dummy"
    assert pairs["--host"] == "127.0.0.1" and pairs["--port"] == str(spec.port)
    assert pairs["--max-num-batched-tokens"] == "4096"
    assert "--no-enable-prefix-caching" in argv
    assert argv[-1] == "--enforce-eager"
    env = engine_env(spec, cfg)
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-a,GPU-b"
    assert env["VLLM_USE_FLASHINFER_SAMPLER"] == "0"


def test_real_weights_use_auto_load_format(tmp_path):
    cfg, spec = _spec(tmp_path, "model.load_format=real")
    argv = engine_argv(spec, cfg)
    assert dict(zip(argv, argv[1:]))["--load-format"] == "auto"


def test_sim_argv_names_state_file_and_gpus(tmp_path):
    cfg, spec = _spec(tmp_path, "engine=sim", "instance.tp=2")
    argv = engine_argv(spec, cfg)
    pairs = dict(zip(argv, argv[1:]))
    assert argv[1:3] == ["-m", "greenllm.sim.server"]
    assert pairs["--gpu-state"] == str(tmp_path / "s")
    assert pairs["--gpu-indices"] == "0,1"
