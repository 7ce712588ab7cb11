"""Instances side by side on one (simulated) node: own GPUs, own telemetry, own pins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from greenllm.errors import ConfigError
from greenllm.gpu.sim import SimGpu, SimGpuSpec
from greenllm.measure.multi_gpu import NO_MULTICAST_ENV, engine_worker_env, per_gpu_fields
from greenllm.measure.parallel import (
    InstanceRequest,
    Slot,
    disturbance,
    measure_argv,
    run_side_by_side,
    start_spread,
    waves,
)


def test_instances_are_packed_on_disjoint_gpus():
    reqs = [InstanceRequest(f"tp2_{k}", 2) for k in range(4)] + [InstanceRequest("tp8", 8)]
    rounds = waves(reqs, range(8))
    assert [[s.instance_id for s in w] for w in rounds] == [["tp8"], [f"tp2_{k}" for k in range(4)]]
    for w in rounds:
        used = [g for s in w for g in s.gpus]
        assert len(used) == len(set(used)) and set(used) <= set(range(8))
    fixed = waves([InstanceRequest("a", 2, (6, 7)), InstanceRequest("b", 2)], [4, 5, 6, 7])
    assert fixed == [[Slot("a", (6, 7)), Slot("b", (4, 5))]]


@pytest.mark.parametrize(("reqs", "gpus", "message"), [
    ([InstanceRequest("big", 8)], [0, 1, 2, 3], "big needs 8 GPUs but only 4 are listed"),
    ([InstanceRequest("a", 2, (0, 1)), InstanceRequest("b", 2, (1, 2))], [0, 1, 2, 3],
     "a and b share GPU 1"),
    ([InstanceRequest("a", 2, (0, 9))], [0, 1, 2, 3], "asks for GPU 9, which is not listed"),
    ([InstanceRequest("a", 2, (0, 1)), InstanceRequest("b", 2, (2, 3)),
      InstanceRequest("c", 1, (4,))], [0, 1, 2, 3, 5], "asks for GPU 4"),
])
def test_bad_parallel_requests_are_one_line(reqs, gpus, message):
    with pytest.raises(ConfigError, match=message) as err:
        waves(reqs, gpus)
    assert "\n" not in str(err.value)


def test_cli_refuses_more_gpus_than_listed_before_starting_anything(tmp_path, capsys):
    from greenllm.measure.parallel import main

    assert main(["--gpus", "0,1", "--tp", "4", "--instances", "1", "--out", str(tmp_path)]) == 2
    assert "needs 4 GPUs but only 2 are listed" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_multicast_stays_off_for_the_engine_and_its_workers():
    from omegaconf import OmegaConf

    from greenllm.engine.launch import engine_env

    env = engine_worker_env({"NCCL_DEBUG": "INFO"})
    assert env["NCCL_NVLS_ENABLE"] == "0" and env["NCCL_DEBUG"] == "INFO"
    cfg = OmegaConf.create({"engine": {"env": {}}})
    spec = type("S", (), {"kind": "vllm", "gpu_uuids": ["GPU-a", "GPU-b"]})()
    full = engine_env(spec, cfg)
    assert all(full[k] == v for k, v in NO_MULTICAST_ENV.items())
    assert full["CUDA_VISIBLE_DEVICES"] == "GPU-a,GPU-b"


def test_per_gpu_spread():
    f = per_gpu_fields({0: 100.0, 1: 110.0})
    assert f["per_gpu_energy_j"] == {"0": 100.0, "1": 110.0}
    assert f["per_gpu_spread"] == pytest.approx(10.0 / 105.0)
    assert per_gpu_fields({0: 5.0})["per_gpu_spread"] is None


TINY = [
    "model=llama-1b", "engine=sim", "workload.ids=[S-S]", "clocks.mhz=[1500]",
    "load=smoke", "load.points=[]", "load.rates_rps=[4]", "load.requests_per_point=12",
    "load.min_duration_s=0.5", "load.warmup_requests=1", "search=smoke",
    "slo.baseline_requests=2", "gpu.sim_settle_s=0.01",
]


def test_two_tp2_instances_side_by_side_on_a_simulated_node(tmp_path):
    node = tmp_path / "node.state"
    SimGpu.create(node, 5, SimGpuSpec.h100_sxm(), clock_permitted=True, settle_s=0.01).close()
    other = SimGpu.open(node)
    other.lock_sm_clock(4, 1200)  # GPU 4: someone else's lock, not listed for these instances
    other.close()
    overrides = [*TINY, f"gpu.sim_node_state={node}", f"model.path={tmp_path / 'model'}"]
    env = {**os.environ, "GREENLLM_STATE_DIR": str(tmp_path / "state")}
    (wave,) = waves([InstanceRequest("a", 2), InstanceRequest("b", 2)], [0, 1, 2, 3])
    argv = {s.instance_id: measure_argv(s, tmp_path / s.instance_id, overrides) for s in wave}
    codes = run_side_by_side(wave, argv, env=env, log_dir=tmp_path / "logs")
    assert codes == {"a": 0, "b": 0}, (tmp_path / "logs/a.log").read_text()[-2000:]
    seen: dict[str, set[int]] = {}
    for slot in wave:
        (path,) = (tmp_path / slot.instance_id / "cells").rglob("summary.json")
        s = json.loads(path.read_text())
        assert s["status"] == "ok" and s["instance"]["gpu_indices"] == list(slot.gpus)
        energy = s["load_points"][0]["energy"]
        # every GPU of the instance sampled and summed, and nothing else
        assert sorted(int(g) for g in energy["per_gpu_energy_j"]) == list(slot.gpus)
        assert energy["energy_j"] == pytest.approx(sum(energy["per_gpu_energy_j"].values()))
        assert energy["per_gpu_spread"] is not None and energy["per_gpu_spread"] < 0.2
        tel = pd.read_parquet(path.parent / "telemetry.r0.parquet")
        seen[slot.instance_id] = set(tel["gpu"].astype(int))
        assert seen[slot.instance_id] == set(slot.gpus)
        assert s["clock"]["applied_mhz"] == 1500
    assert not seen["a"] & seen["b"]
    # each instance restored its own GPUs' clocks, and touched no other GPU's
    gpu = SimGpu.open(node)
    assert all(gpu.locked_sm_clock_mhz(i) is None for i in range(4))
    assert gpu.locked_sm_clock_mhz(4) == 1200
    gpu.close()
    rows = disturbance(tmp_path / "a", tmp_path / "b")
    assert rows and rows[0]["load_point"] == "r4" and rows[0]["power_mean_w"] is not None


def _cell(root: Path, ttft: float, power: float) -> None:
    from greenllm import atomic

    s = {"schema": "greenllm.cell/1", "status": "ok", "simulated": True,
         "instance": {"id": "i", "model": "m", "tp": 2, "max_batch": 64, "gpu_indices": [0, 1]},
         "clock": {"label": "f1500", "mode": "pin", "requested_mhz": 1500},
         "workload": {"id": "M-M", "input_tokens": 500, "output_tokens": 128},
         "slo": {}, "repeats": 1, "repeats_done": 1, "max_throughput": {"rps": 4.0},
         "load_points": [{"name": "medium", "repeat": 0, "rate_rps": 2.0,
                          "ttft_s": {"p50": ttft}, "energy": {"power_mean_w": power}}]}
    atomic.write_json(root / "cells/f1500/M-M/summary.json", s)


def test_disturbance_is_the_relative_change_from_alone(tmp_path):
    _cell(tmp_path / "alone", ttft=0.100, power=400.0)
    _cell(tmp_path / "side", ttft=0.110, power=390.0)
    (row,) = disturbance(tmp_path / "alone", tmp_path / "side")
    assert (row["clock"], row["workload"], row["load_point"]) == ("f1500", "M-M", "medium")
    assert row["ttft_p50_s"] == pytest.approx(0.10)
    assert row["power_mean_w"] == pytest.approx(-0.025)
    assert row["max_throughput_rps"] == pytest.approx(0.0)


def test_disturbance_against_the_mean_of_several_alone_starts(tmp_path):
    """Two alone starts read TTFT 100 and 120 ms (a start's offset, as on the H100): the
    side-by-side 121 ms is +10 % from their mean, not +21 % from the first alone run, and
    the starts' own spread (SD 14.1 ms, 12.9 % of 110) is printed beside it."""
    _cell(tmp_path / "alone1", ttft=0.100, power=400.0)
    _cell(tmp_path / "alone2", ttft=0.120, power=400.0)
    _cell(tmp_path / "side", ttft=0.121, power=400.0)
    (row,) = disturbance([tmp_path / "alone1", tmp_path / "alone2"], tmp_path / "side")
    assert row["ttft_p50_s"] == pytest.approx(0.10)
    assert disturbance(tmp_path / "alone1", tmp_path / "side")[0]["ttft_p50_s"] == pytest.approx(0.21)
    (spread,) = start_spread([tmp_path / "alone1", tmp_path / "alone2"])
    assert spread["ttft_p50_s"] == pytest.approx(0.020 / 2 ** 0.5 / 0.110)  # SD of two: |a-b|/sqrt 2
    assert spread["power_mean_w"] == pytest.approx(0.0)
    assert start_spread([tmp_path / "alone1"])[0]["ttft_p50_s"] is None
