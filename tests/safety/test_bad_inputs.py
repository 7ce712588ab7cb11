"""Catalogue of bad inputs: each fails with exit != 0 and exactly one line of error,
before an engine starts and before anything is written to results.

Sources: Hydra overrides and config groups, model folders, output folders, GPU lists
(through ``greenllm measure``, in process) and the Snakemake config (through the same
functions the workflow's common.smk calls: ``plan_from_config`` and the validation pass).
Trace files are not covered: ``workload=trace`` does not exist on this branch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safety_helpers import ROOT, TINY, tree

from greenllm import plan as gplan
from greenllm.errors import GreenllmError
from greenllm.load.model_folder import build_model_folder
from greenllm.load.shapes import SHAPES
from greenllm.measure.preflight import plan_problems

# (case id, overrides, a phrase the one error line must contain)
HYDRA = [
    ("unknown-key", ["instance.tpp=2"], "instance.tpp"),
    ("tp-not-int", ["instance.tp=abc"], "instance.tp"),
    ("unknown-model", ["model=llama9"], "llama9"),
    ("clock-not-int", ["clocks.mhz=[fast]"], "clocks.mhz"),
    ("clock-too-high", ["clocks.mhz=[5000]"], "5000 MHz"),
    ("clock-too-low", ["clocks.mhz=[100]"], "100 MHz"),
    ("no-clocks", ["clocks.mhz=[]"], "clocks.mhz is empty"),
    ("clock-mode", ["clocks.mode=pinned"], "clocks.mode"),
    ("tp-heads", ["instance.tp=3"], "does not divide"),
    ("tp-zero", ["instance.tp=0"], "instance.tp=0"),
    ("batch-zero", ["instance.max_batch=0"], "instance.max_batch"),
    ("arrival", ["load.arrival=burst"], "load.arrival"),
    ("load-unknown", ["load.points=[extreme]"], "extreme"),
    ("no-load", ["load.points=[]", "load.rates_rps=[]"], "no load to run"),
    ("rate-negative", ["load.points=[]", "load.rates_rps=[-1]"], "load.rates_rps"),
    ("fraction", ["load.fractions.low=2"], "load.fractions.low"),
    ("percentile", ["slo.percentile=100"], "slo.percentile"),
    ("slo-scale", ["slo.scale=0.5"], "slo.scale"),
    ("workload-id", ["workload.ids=[S-X]"], "S-X"),
    ("no-workloads", ["workload.ids=[]"], "workload.ids is empty"),
    ("engine-kind", ["engine.kind=tgi"], "engine.kind"),
    ("load-format", ["model.load_format=fp8"], "model.load_format"),
    ("context-short", ["engine.max_model_len=64"], "engine.max_model_len=64"),
    ("context-model", ["workload.ids=[L-L]", "model.shape.max_position_embeddings=512"],
     "max_position_embeddings=512"),
    # GPU lists: the simulated node has gpu.sim_count GPUs and enforces them like NVML
    ("gpu-missing", ["gpu.sim_count=8", "instance.gpus=[9]"], "GPUs 0-7"),
    ("gpu-negative", ["instance.gpus=[-1]"], "simulated node has GPUs"),
    ("gpus-vs-tp", ["instance.gpus=[0,1]"], "lists 2 GPU(s) but instance.tp=1"),
    ("tp16-2gpus", ["instance.tp=16", "instance.gpus=[0,1]"], "instance.tp=16"),
    ("tp-vs-node", ["gpu.sim_count=8", "instance.tp=16"], "simulated node has 8"),
    ("gpu-twice", ["instance.tp=2", "instance.gpus=[2,2]"], "more than once"),
    ("node-size", ["gpu.sim_count=0"], "gpu.sim_count=0"),
    # numbers the engine, client and search need to make sense
    ("port-range", ["engine.port=99999"], "engine.port=99999"),
    ("host", ["engine.host=999.1.1.1"], "engine.host"),
    ("repeats-zero", ["load.repeats=0"], "load.repeats=0"),
    ("engine-starts", ["load.repeats=2", "load.engine_starts=3"], "load.engine_starts=3"),
    ("ramp", ["load.ramp_fraction=1.5"], "load.ramp_fraction"),
    ("cv", ["load.cv=-1"], "load.cv"),
    ("durations", ["load.min_duration_s=30", "load.max_duration_s=10"], "is above"),
    ("gpu-range", ["gpu.max_sm_clock_mhz=300", "clocks.mhz=[300]"], "gpu.min_sm_clock_mhz"),
    ("gpu-mem", ["engine.gpu_memory_utilization=3"], "gpu_memory_utilization"),
    ("model-name", ["model.name=a/b"], "model.name"),
    ("vocab", ["model.shape.vocab_size=2"], "vocab_size"),
    ("empty-out-dir", ["out_dir="], "out_dir is empty"),
]


def assert_refused(result, expect: str, out: Path, before: dict | None = None) -> None:
    assert result.code != 0, result.err
    assert len(result.lines) == 1, result.lines  # exactly one line, no traceback
    assert result.lines[0].startswith("greenllm: error:") and expect in result.lines[0], \
        result.lines
    assert result.engine_starts == 0
    assert tree(out) == (before or {})  # nothing written to results


@pytest.mark.parametrize("case, overrides, expect", HYDRA, ids=[c[0] for c in HYDRA])
def test_hydra_override(greenllm, tmp_path, case, overrides, expect):
    out = tmp_path / "raw"
    result = greenllm("measure", f"out_dir={out}", f"model.path={tmp_path / 'model'}", *TINY,
                      "clocks.mhz=[1980]", *overrides)
    assert_refused(result, expect, out)
    assert not (tmp_path / "model").exists()


def test_missing_out_dir(greenllm, tmp_path):
    assert_refused(greenllm("measure", *TINY), "out_dir", tmp_path / "raw")


@pytest.mark.parametrize("case, text, expect", [
    ("yaml-syntax", "kind: sim\n  port: [1,\n", "YAML does not parse"),
    ("yaml-type", "# @package engine\nkind: sim\nport: eighty\n", "engine.port"),
    ("yaml-unknown-key", "# @package engine\nkind: sim\nturbo: true\n", "turbo"),
], ids=["yaml-syntax", "yaml-type", "yaml-unknown-key"])
def test_config_group_yaml(greenllm, tmp_path, monkeypatch, case, text, expect):
    cfg = tmp_path / "cfg"
    shutil.copytree(ROOT / "config/measure", cfg)
    (cfg / "engine/broken.yaml").write_text(text)
    monkeypatch.setenv("GREENLLM_CONFIG_DIR", str(cfg))
    out = tmp_path / "raw"
    result = greenllm("measure", f"out_dir={out}", *TINY, "engine=broken")
    assert_refused(result, expect, out)


# --- model folders ----------------------------------------------------------------------

def _user_folder(p: Path) -> None:
    p.mkdir()
    (p / "model.safetensors").write_bytes(b"\x00" * 64)
    (p / "notes.txt").write_text("mine")


def _file(p: Path) -> None:
    p.write_text("not a folder")


def _short_context(p: Path) -> None:
    p.mkdir()
    (p / "config.json").write_text(json.dumps({"max_position_embeddings": 256}))
    (p / "tokenizer.json").write_text("{}")


def _bad_config(p: Path) -> None:
    p.mkdir()
    (p / "config.json").write_text("{not json")


def _heads(p: Path) -> None:
    p.mkdir()
    (p / "config.json").write_text(json.dumps({"num_attention_heads": 6,
                                               "num_key_value_heads": 6}))


def _built_then_added(p: Path) -> None:
    build_model_folder(p, dict(SHAPES["llama-1b"], vocab_size=64), "llama-1b")
    (p / "config.json").unlink()
    (p / "my-finetune.safetensors").write_bytes(b"\x01" * 8)


MODEL_FOLDERS = [
    ("user-folder", _user_folder, [], "did not create"),
    ("path-is-file", _file, [], "is a file"),
    ("short-context", _short_context, ["workload.ids=[L-L]"], "max_position_embeddings=256"),
    ("config-unparsable", _bad_config, [], "does not parse"),
    ("heads-vs-tp", _heads, ["instance.tp=4", "instance.gpus=[0,1,2,3]"], "6 attention heads"),
    ("built-then-added", _built_then_added, [], "my-finetune.safetensors"),
    ("real-no-folder", None, ["model.load_format=real"], "has no config.json"),
    ("real-no-weights", _short_context, ["model.load_format=real"], "no weights"),
]


@pytest.mark.parametrize("case, make, overrides, expect", MODEL_FOLDERS,
                         ids=[c[0] for c in MODEL_FOLDERS])
def test_model_folder(greenllm, tmp_path, case, make, overrides, expect):
    model, out = tmp_path / "model", tmp_path / "raw"
    if make:
        make(model)
    before = tree(model) if model.is_dir() else None
    result = greenllm("measure", f"out_dir={out}", f"model.path={model}", *TINY,
                      "clocks.mhz=[1980]", *overrides)
    assert_refused(result, expect, out)
    if before is not None:
        assert tree(model) == before  # the user's folder is untouched


# --- output folders ---------------------------------------------------------------------

def test_out_dir_is_a_file(greenllm, tmp_path):
    (tmp_path / "raw").write_text("x")
    result = greenllm("measure", f"out_dir={tmp_path / 'raw'}", *TINY)
    assert result.code != 0 and len(result.lines) == 1 and "not a folder" in result.lines[0]
    assert (tmp_path / "raw").read_text() == "x" and result.engine_starts == 0


def test_out_dir_under_a_file(greenllm, tmp_path):
    (tmp_path / "f").write_text("x")
    result = greenllm("measure", f"out_dir={tmp_path / 'f' / 'raw'}", *TINY)
    assert result.code != 0 and len(result.lines) == 1 and "is a file" in result.lines[0]
    assert (tmp_path / "f").read_text() == "x" and result.engine_starts == 0


def test_out_dir_is_a_users_folder(greenllm, tmp_path):
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "chapter1.tex").write_text("x")
    before = tree(out)
    assert_refused(greenllm("measure", f"out_dir={out}", *TINY), "chapter1.tex", out, before)


def test_out_dir_on_a_read_only_mount(greenllm, tmp_path):
    import os

    ro = next((p for p in ("/sys/fs", "/proc/sys") if os.path.isdir(p)
               and os.statvfs(p).f_flag & os.ST_RDONLY), None)
    if ro is None:
        pytest.skip("no read-only mount on this machine")
    result = greenllm("measure", f"out_dir={ro}/greenllm-out", *TINY)
    assert result.code != 0 and len(result.lines) == 1 and "not writable" in result.lines[0]


# --- the Snakemake config (what common.smk runs for `snakemake -n`) --------------------

SNAKEMAKE = [
    ("smk-clock-range", {"clocks": {"mode": "pin", "mhz": [10000]}}, "clocks.mhz"),
    ("smk-clock-h100", {"clocks": {"mode": "pin", "mhz": [2100]}}, "maximum of 1980"),
    ("smk-clock-mode", {"clocks": {"mode": "pinned"}}, "clocks.mode"),
    ("smk-unknown-key", {"modle": {"name": "x"}}, "modle"),
    ("smk-engine", {"engine": "tgi"}, "engine"),
    ("smk-preset", {"preset": "nope"}, "nope"),
    ("smk-local-path", {"model": {"name": "llama-1b", "source": "local"}}, "model.path"),
    ("smk-gpus", {"gpus_available": 0}, "gpus_available"),
    ("smk-load-points", {"load": {"points": []}}, "load.points"),
    ("smk-measure-override", {"measure_overrides": ["load.arrival=burst"]}, "load.arrival"),
]


@pytest.mark.parametrize("case, config, expect", SNAKEMAKE, ids=[c[0] for c in SNAKEMAKE])
def test_snakemake_config(tmp_path, case, config, expect):
    config = {"preset": "smoke", "engine": "sim", "results_dir": str(tmp_path / "results"),
              **config}
    try:
        plan = gplan.plan_from_config(config, root=ROOT)
    except GreenllmError as err:
        lines = [str(err)]
    else:
        lines = plan_problems(plan, ROOT)
        # one problem of the config, reported once per instance it concerns: one line each
        lines = list(dict.fromkeys(ln.split(": ", 1)[1] for ln in lines))
    assert len(lines) == 1 and "\n" not in lines[0] and expect in lines[0], lines
    assert not (tmp_path / "results").exists()


def test_snakemake_preset_yaml_that_does_not_parse(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("model: {name: llama-1b\nclocks: [\n")
    with pytest.raises(GreenllmError) as exc:
        gplan.plan_from_config({"preset": str(preset)}, root=ROOT)
    assert "not valid YAML" in str(exc.value) and "\n" not in str(exc.value)


# --- property-based mutations of a valid config ----------------------------------------

MUTATIONS = st.one_of(
    st.tuples(st.just("clocks.mhz"), st.integers(-10**6, 344).map(lambda v: f"[{v}]")),
    st.tuples(st.just("clocks.mhz"), st.integers(1981, 10**6).map(lambda v: f"[{v}]")),
    st.tuples(st.just("instance.tp"), st.sampled_from([0, -1, 3, 5, 6, 7])),
    st.tuples(st.just("instance.max_batch"), st.integers(-100, 0)),
    st.tuples(st.just("slo.percentile"), st.one_of(st.floats(100, 1e9), st.floats(-1e9, 0))),
    st.tuples(st.just("slo.scale"), st.floats(-1e6, 0.999)),
    st.tuples(st.just("load.fractions.low"), st.one_of(st.floats(1.5001, 1e6),
                                                       st.floats(-1e6, 0))),
    st.tuples(st.just("workload.ids"),
              st.from_regex(r"[A-Z]-[A-Z]", fullmatch=True)
              .filter(lambda w: not set(w.split("-")) <= {"S", "M", "L"})
              .map(lambda w: f"[{w}]")),
    st.tuples(st.just("instance.gpus"), st.integers(-1000, -1).map(lambda v: f"[{v}]")),
)


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation=MUTATIONS)
def test_any_single_bad_value_is_one_line_naming_its_key(greenllm, tmp_path, mutation):
    key, value = mutation
    value = f"{value:.6g}" if isinstance(value, float) else value
    out = tmp_path / "raw"
    result = greenllm("measure", "--check", f"out_dir={out}", *TINY, "clocks.mhz=[1980]",
                      f"{key}={value}")
    assert result.code != 0 and len(result.lines) == 1, (mutation, result.lines)
    name = key.split(".")[-1]
    assert name in result.lines[0] or key.split(".")[0] in result.lines[0], result.lines
    assert not out.exists()
