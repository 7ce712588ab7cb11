"""One real vLLM cell in observe mode: `greenllm measure engine=vllm clocks=observe` on a
1.1B Llama shape with dummy weights (built locally from the shape: no network), the SLO
baseline, a short max-throughput search and one load point, on GPU 0.

Run on a GPU machine with vLLM installed (~3 min, most of it the engine start):
GREENLLM_GPU_READ_ONLY=1 python -m pytest -m "gpu or vllm" tests/hardware
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from greenllm.analysis.cells import load_summary

# The engine start alone can take minutes (cold compile cache): more than the suite's
# 300 s default. Only where pytest-timeout is installed (a GPU box may lack it, and an
# unknown marker fails under --strict-markers).
_TIMEOUT = [pytest.mark.timeout(900)] if importlib.util.find_spec("pytest_timeout") else []
pytestmark = [pytest.mark.vllm, pytest.mark.gpu, *_TIMEOUT]

# A CI-sized cell: the numbers are not a measurement to draw conclusions from; the test
# checks the whole real path (engine start, baseline, search, load, telemetry) works.
MEASURE = [
    "model=llama-1b", "engine=vllm", "clocks=observe", "instance=tp1", "instance.max_batch=16",
    "workload.ids=[M-M]", "load=smoke", "load.points=[medium]", "load.requests_per_point=40",
    "load.min_duration_s=3", "load.max_duration_s=15", "search=smoke", "search.max_probes=3",
    "search.requests_per_probe=30", "search.probe_min_duration_s=2",
    "search.probe_max_duration_s=8", "slo.baseline_requests=3",
    "engine.startup_timeout_s=420",
]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GREENLLM_GPU_READ_ONLY": "1",  # never an NVML setter on a shared card
        "GREENLLM_STATE_DIR": str(tmp_path / "state"),  # clock markers (none expected)
        "HF_HUB_OFFLINE": "1",  # the model folder is local; never reach for the hub
        "VLLM_USE_FLASHINFER_SAMPLER": os.environ.get("VLLM_USE_FLASHINFER_SAMPLER", "0"),
    }


def test_one_vllm_cell_in_observe_mode(real_gpu, vllm_installed, tmp_path: Path) -> None:
    index = real_gpu.indices[0]
    before = real_gpu.info(index)
    env = _env(tmp_path)
    model = tmp_path / "model"
    dl = subprocess.run([sys.executable, "-m", "greenllm.cli.main", "download",
                         "--model", "llama-1b", "--dest", str(model)],
                        env=env, capture_output=True, text=True, timeout=120)
    assert dl.returncode == 0, dl.stderr
    assert (model / "config.json").is_file()

    raw = tmp_path / "raw"
    run = subprocess.run([sys.executable, "-m", "greenllm.cli.main", "measure",
                          f"out_dir={raw}", f"model.path={model}", *MEASURE],
                         env=env, capture_output=True, text=True, timeout=840)
    log = raw / "engine.log"
    tail = (run.stderr[-3000:] + "\n--- engine.log ---\n"
            + (log.read_text()[-3000:] if log.is_file() else "(none)"))
    assert run.returncode == 0, tail

    path = raw / "cells" / "native" / "M-M" / "summary.json"
    s = load_summary(path)  # the analysis side's schema check
    assert s["status"] == "ok", (s["error"], tail)
    assert s["simulated"] is False and s["instance"]["engine"] == "vllm"
    assert s["clock"]["mode"] == "observe" and s["clock"].get("applied_mhz") is None
    assert s["clock"]["achieved_mhz"]["p50"] > 0
    assert s["provenance"]["engine_version"], s["provenance"]
    assert s["provenance"]["gpus"][0]["uuid"] == before.uuid
    assert s["slo"]["ttft_s"] > 0 and s["slo"]["tbt_s"] > 0
    assert s["max_throughput"]["rps"] > 0, s["max_throughput"]

    (point,) = s["load_points"]
    assert point["n_ok"] == point["n_requests"] > 0 and point["n_failed"] == 0
    assert 0 < point["ttft_s"]["p50"] < 10 and 0 < point["tbt_s"]["p50"] < 1, point
    e = point["energy"]
    assert e["energy_j"] > 0 and 20 < e["power_mean_w"] < 1.1 * before.power_limit_w, e
    assert e["energy_per_output_token_j"] > 0

    # exact lengths: every request that finished streamed exactly M-M's 128 output
    # tokens (probes and the load point alike), as the server's usage also says
    reqs = pd.read_parquet(path.parent / "requests.r0.parquet")
    done = reqs[reqs["ok"]]
    assert len(done) >= point["n_ok"]
    assert (done["token_times_s"].map(len) == 128).all(), done["token_times_s"].map(len).value_counts()
    assert (done["tokens_out"].dropna() == 128).all()

    tele = pd.read_parquet(path.parent / "telemetry.r0.parquet")
    assert tele["energy_mj"].is_monotonic_increasing
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["complete"]

    # observe mode changed nothing on the card, and left no clock marker behind
    after = real_gpu.info(index)
    assert after.power_limit_w == before.power_limit_w
    markers = tmp_path / "state" / "clock-markers"
    assert not (markers.exists() and any(markers.iterdir())), list(markers.iterdir())
