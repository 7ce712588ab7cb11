"""The virtual engine: same outputs as the live sim engine, repeats that differ by seed
with the calibrated spread, and bad input refused in one line before anything runs.

Real components: `greenllm measure` through its CLI, the simulator, SimGpu; the sim
comparison starts the live simulated server.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenllm import plan as gplan
from greenllm.analysis.aggregate import aggregate
from greenllm.analysis.cells import load_summary
from greenllm.engine.virtual import VirtualEngine
from greenllm.errors import ConfigError
from greenllm.gpu.sim import SimGpu
from greenllm.gpu.telemetry import COLUMNS
from greenllm.load import parse_workload
from greenllm.load.arrivals import arrival_offsets_s
from greenllm.load.metrics import summarize
from greenllm.load.records import RECORD_COLUMNS
from greenllm.sim.gpu_models import simulated_gpu
from greenllm.sim.jitter import (
    SIGMA_LATENCY,
    SIGMA_POWER,
    SIGMA_TIME,
    Jitter,
    measured_spread,
    reference_spread,
)
from greenllm.sim.offline import LLAMA2_70B
from greenllm.sim.perf_model import PerfModel
from simtest_helpers import finish, measure_cli

ROOT = Path(__file__).resolve().parents[2]

TINY = [
    "model=llama-1b", "instance=tp1", "workload.ids=[S-S,L-L]", "clocks.mhz=[990,1980]",
    "load=smoke", "load.points=[low,medium]", "load.requests_per_point=12",
    "load.min_duration_s=0.3", "load.warmup_requests=1", "load.repeats=2",
    "search=smoke", "search.max_probes=3", "search.requests_per_probe=10",
    "search.probe_min_duration_s=0.3", "search.confirm_repeats=0", "slo.baseline_requests=2",
    # the cold search at every clock: the engines' trends are compared at their own limits
    "search.warm_start=false",
]


def measure(out: Path, *overrides: str, wait: bool = True):
    """The tiny grid's run (``wait=False``: the running Popen, for ``finish``)."""
    return measure_cli(out, [*TINY, *overrides], wait=wait, timeout_s=300)


def _keys(obj, prefix=""):
    """Every key path of a JSON object (list items merged), to compare schemas."""
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(prefix + k)
            out |= _keys(v, prefix + k + ".")
    elif isinstance(obj, list):
        for v in obj:
            out |= _keys(v, prefix + "[].")
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("engines")
    out = {}
    # The live sim has no run-to-run jitter: the virtual run is compared with it without its
    # own (a 24 % latency jitter would drown the clock's effect on 2 repeats).
    jitter_off = {"virtual": ["engine.virtual.jitter_latency=0"], "sim": []}
    # side by side: the virtual run computes while the live sim run waits on its server
    procs = {kind: measure(base / kind, f"engine={kind}", *jitter_off[kind], wait=False)
             for kind in ("virtual", "sim")}
    for kind, proc in procs.items():
        run = finish(proc, 300)
        assert run.returncode == 0, run.stderr[-3000:]
        out[kind] = base / kind / "raw"
    return out


def test_virtual_writes_the_results_schema(runs):
    raw = runs["virtual"]
    paths = sorted((raw / "cells").rglob("summary.json"))
    assert len(paths) == 4
    for path in paths:
        s = load_summary(path)  # the analysis side's schema check
        assert s["status"] == "ok" and s["simulated"] is True
        assert s["instance"]["engine"] == "virtual"
        assert s["repeats_done"] == 2 and s["max_throughput"]["rps"] > 0
        for r in (0, 1):
            req = pd.read_parquet(path.parent / f"requests.r{r}.parquet")
            assert req.columns[0] == "point" and "repeat" in req.columns
            assert set(RECORD_COLUMNS) <= set(req.columns) and req["ok"].all()
            # exact lengths, every token's time recorded, in order
            assert (req["token_times_s"].map(len) == req["output_tokens_requested"]).all()
            assert all(np.all(np.diff(t) >= 0) for t in req["token_times_s"])
            tel = pd.read_parquet(path.parent / f"telemetry.r{r}.parquet")
            assert list(tel.columns) == list(COLUMNS)
            assert (np.diff(tel[tel.gpu == 0]["energy_mj"]) >= 0).all()
        medium = [p for p in s["load_points"] if p["name"] == "medium"]
        assert len(medium) == 2 and all(p["energy"]["energy_j"] > 0 for p in medium)
        assert all(p["sm_clock_mhz"]["p50"] == s["clock"]["applied_mhz"] for p in medium)
    for name in ("manifest.json", "instance.json", "baseline/S-S.json",
                 "baseline/S-S.requests.parquet"):
        assert (raw / name).is_file(), name
    assert json.loads((raw / "manifest.json").read_text())["complete"]


def test_same_outputs_as_the_live_sim_engine(runs, tmp_path):
    v, s = runs["virtual"], runs["sim"]
    files = {k: sorted(str(p.relative_to(r)) for p in (r / "cells").rglob("*") if p.is_file())
             for k, r in runs.items()}
    assert files["virtual"] == files["sim"]
    for rel in [f for f in files["sim"] if f.endswith("summary.json")]:
        a, b = (json.loads((r / rel).read_text()) for r in (v, s))
        # energy_reads: the live sampler's measured NVML read cost and chosen period
        # (gpu/energy_read.py); a virtual run reads no counter, and no table reads it.
        b.pop("energy_reads", None)
        assert _keys(a) == _keys(b), rel
    for pattern in ("requests.r0.parquet", "telemetry.r1.parquet"):
        a, b = (pd.read_parquet(next((r / "cells").rglob(pattern))) for r in (v, s))
        assert list(a.columns) == list(b.columns)
        assert dict(a.dtypes.astype(str)) == dict(b.dtypes.astype(str))
    tables = {k: aggregate([r], tmp_path / f"{k}.parquet").table for k, r in runs.items()}
    assert list(tables["virtual"].columns) == list(tables["sim"].columns)
    assert set(tables["virtual"]["engine"]) == {"virtual"}
    assert set(tables["sim"]["engine"]) == {"sim"}
    # The same physics: the engines agree on the trends the figures show. Decode is
    # slower at the lower clock and the GPUs draw less power there.
    for table in tables.values():
        med = table[table.load_point == "medium"]
        by = med.groupby(["workload_id", "clock_label"])[["tbt_p50_s", "power_mean_w"]].median()
        for wl in ("S-S", "L-L"):
            assert by.loc[(wl, "f990"), "tbt_p50_s"] > by.loc[(wl, "f1980"), "tbt_p50_s"]
            assert by.loc[(wl, "f990"), "power_mean_w"] < by.loc[(wl, "f1980"), "power_mean_w"]
    # ... and on magnitudes, cell by cell (the live engine adds real HTTP and event-loop
    # time to TTFT, which virtual time does not have: a wider band there)
    keys = ["workload_id", "clock_label", "load_point"]
    both = pd.merge(*(tables[k].groupby(keys).median(numeric_only=True) for k in ("virtual", "sim")),
                    left_index=True, right_index=True, suffixes=("", "_sim"))
    assert ((both.tbt_p50_s / both.tbt_p50_s_sim).between(1 / 1.3, 1.3)).all()
    assert ((both.ttft_p50_s / both.ttft_p50_s_sim).between(1 / 2.5, 2.5)).all()
    # ... and on the latency of a request sent alone (the SLO baseline), within 30 %
    for wl in ("S-S", "L-L"):
        a, b = (json.loads((r / "baseline" / f"{wl}.json").read_text())["slo"] for r in (v, s))
        assert a["ttft_s"] == pytest.approx(b["ttft_s"], rel=0.3)
        assert a["tbt_s"] == pytest.approx(b["tbt_s"], rel=0.3)


# --- repeats differ by seed, by the calibrated spread ------------------------------------


def _engine(tmp_path: Path, jitter: Jitter) -> VirtualEngine:
    model = simulated_gpu("h100-sxm")
    gpu = SimGpu.create(tmp_path / "gpu.state", 8, model.power, settle_s=0.0)
    return VirtualEngine(PerfModel(LLAMA2_70B, model.perf, 8), model, gpu, max_num_seqs=64,
                         max_num_batched_tokens=8192, jitter=jitter, served_name="t")


def _ttft_p50(engine: VirtualEngine, seed: int, offsets: np.ndarray) -> float:
    frame = engine.send(parse_workload("M-M"), offsets, seed=seed, timeout_s=600)
    return summarize(frame)["ttft_s"]["p50"]


def test_repeats_differ_by_seed(tmp_path):
    offsets = arrival_offsets_s("poisson", 2.0, 40, seed=3)  # one arrival sample for all
    jittered = _engine(tmp_path, Jitter())
    ttft = [_ttft_p50(jittered, seed, offsets) for seed in range(8)]
    assert len(set(np.round(ttft, 9))) == len(ttft)  # every seed is a different run
    # without jitter the same arrivals give the same run: the difference is the model's
    still = _engine(tmp_path / "b", Jitter(0.0, 0.0, 0.0))
    assert len({round(_ttft_p50(still, seed, offsets), 9) for seed in range(3)}) == 1


def test_repeat_spread_is_the_spread_measured_on_the_h100():
    """The 13B reference load points replayed in virtual time, 20 repeats each (own
    arrivals and jitter per repeat): their spread over repeats matches the card's."""
    ref = ROOT / "reports/reference"
    m_tbt, m_power, m_ttft = measured_spread(ref)
    s_tbt, s_power, s_ttft = reference_spread(Jitter(), ref, repeats=20)
    assert s_ttft == pytest.approx(m_ttft, rel=0.25)
    # arrivals alone already spread TBT and power as much as the card: no jitter there
    assert s_tbt > 0.8 * m_tbt and s_power > 0.8 * m_power
    assert SIGMA_TIME == 0.0 and SIGMA_POWER == 0.0
    # ... but not TTFT: without the latency jitter the intervals would be too narrow
    assert reference_spread(Jitter(0.0, 0.0, 0.0), ref, repeats=20)[2] < 0.7 * m_ttft
    text = (ROOT / "config/measure/engine/virtual.yaml").read_text()
    assert f"jitter_latency: {SIGMA_LATENCY}" in text


# --- every GPU config is a simulated GPU; bad input ---------------------------------------


@pytest.mark.parametrize("path", sorted((ROOT / "config/measure/gpu").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_every_gpu_config_is_a_simulated_gpu(path):
    import yaml

    cfg = yaml.safe_load(path.read_text())
    model = simulated_gpu(cfg["name"], max_sm_clock_mhz=cfg.get("max_sm_clock_mhz"),
                          power_limit_w=cfg.get("power_limit_w"))
    assert model.power.max_sm_clock_mhz == cfg.get("max_sm_clock_mhz",
                                                   model.power.max_sm_clock_mhz)
    assert model.perf.hbm_bandwidth_bps > 0 and model.measured and model.assumed
    # and the plan accepts it with engine=virtual
    gplan.plan_from_config({"preset": "smoke", "engine": "virtual", "gpu": path.stem},
                           root=ROOT)


def _one_line_error(run: subprocess.CompletedProcess, expect: str) -> None:
    assert run.returncode == 2, run.stderr[-2000:]
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("greenllm: error:")]
    assert len(errors) == 1 and expect in errors[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("overrides, expect", [
    (["engine=virtual", "engine.kind=tgi"], "engine.kind='tgi': must be one of vllm, sim, virtual"),
    (["engine=virtual", "gpu.name=mi300x"], "no simulated GPU model for gpu='mi300x'"),
])
def test_bad_input_is_one_line_before_anything_runs(tmp_path, overrides, expect):
    _one_line_error(measure(tmp_path, *overrides), expect)
    assert not (tmp_path / "raw").exists() or not list((tmp_path / "raw").rglob("*.json"))


@pytest.mark.parametrize("config, expect", [
    ({"engine": "virtual", "gpu": "mi300x"}, "config key 'gpu': engine=virtual has no simulated"),
    ({"engine": "virtual", "gpus_available": 4}, "TP 8 needs 8 GPUs but gpus_available is 4"),
    ({"engine": "tgi"}, "config key 'engine'"),
])
def test_bad_workflow_config_is_one_line(config, expect):
    with pytest.raises(ConfigError) as err:
        gplan.plan_from_config({"preset": "paper", **config}, root=ROOT)
    assert expect in str(err.value) and "\n" not in str(err.value)


def test_a_trace_of_mixed_lengths_replays_exactly(tmp_path):
    """The arrival source is pluggable: (time, input, output) per request, as a trace."""
    engine = _engine(tmp_path, Jitter())
    trace = [(0.0, 100, 5), (0.5, 2000, 40), (30.0, 2000, 3), (60.0, 100, 3)]
    frame = engine.send_requests(trace, seed=1, timeout_s=600)
    assert frame["output_tokens_requested"].tolist() == [5, 40, 3, 3]
    assert frame["token_times_s"].map(len).tolist() == [5, 40, 3, 3]
    assert np.allclose(frame["send_s"] - frame["send_s"].iloc[0], [0.0, 0.5, 30.0, 60.0])
    ttft = (frame["first_token_s"] - frame["send_s"]).to_numpy()
    assert ttft[2] > ttft[3]  # alone, a 2000-token prompt prefills longer than a 100-token one
