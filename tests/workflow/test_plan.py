"""greenllm.plan: presets -> instances, cells, figures, Hydra overrides, estimates."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenllm import plan as gplan
from greenllm.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PAPER_WORKLOADS = ["S-S", "S-M", "S-L", "M-S", "M-M", "M-L", "L-S", "L-M", "L-L"]
PAPER_CLOCKS = ["f800", "f1000", "f1200", "f1400", "f1600", "f1800", "f1980"]


def plan_for(**config) -> gplan.Plan:
    return gplan.plan_from_config(config, ROOT, workdir=ROOT)


@pytest.fixture(scope="module")
def paper() -> gplan.Plan:
    return plan_for(preset="paper")


@pytest.fixture(scope="module")
def smoke() -> gplan.Plan:
    return plan_for(preset="smoke")


def test_paper_preset_instances_and_cells(paper):
    ids = [i.id for i in paper.instances]
    assert ids == [
        "llama2-70b_tp8_b64", "llama2-70b_tp2_b64", "llama2-70b_tp4_b64",
        "llama2-70b_tp8_b4", "llama2-70b_tp8_b8", "llama2-70b_tp8_b16", "llama2-70b_tp8_b32",
    ]
    main = paper.instance("llama2-70b_tp8_b64")
    # 7 clocks x 9 workloads, and the instance serves all three studies (started once)
    assert list(main.clocks) == PAPER_CLOCKS
    assert list(main.workloads) == PAPER_WORKLOADS
    assert len(main.cells) == 63
    assert main.studies == ("workload", "tp", "batch")
    assert main.gpus == 8
    for iid in ids[1:]:
        inst = paper.instance(iid)
        assert inst.workloads == ("M-M",) and len(inst.cells) == 7
    assert len(paper.cells) == 63 + 6 * 7
    assert len(set(paper.cells)) == len(paper.cells)  # no cell measured twice
    assert paper.instance("llama2-70b_tp2_b64").gpus == 2


def test_paper_studies_need_exactly_their_cells(paper):
    assert len(paper.study("workload").cells) == 63
    tp_study = paper.study("tp")
    assert tp_study.instance_ids == (
        "llama2-70b_tp2_b64", "llama2-70b_tp4_b64", "llama2-70b_tp8_b64")
    assert len(tp_study.cells) == 21 and {c.workload for c in tp_study.cells} == {"M-M"}
    batch = paper.study("batch")
    assert [i.rsplit("_b", 1)[1] for i in batch.instance_ids] == ["4", "8", "16", "32", "64"]
    assert len(batch.cells) == 35
    assert paper.figure_instances("fig03_max_throughput_vs_clock_workloads") == (
        "llama2-70b_tp8_b64",)
    assert paper.figure_study("fig08_max_throughput_tp").name == "tp"
    assert paper.figure_study("fig15_energy_batch").name == "batch"
    assert len(paper.figures) == 15 and paper.figures == tuple(s for s, _ in gplan.FIGURES)


def test_smoke_preset_exact_ids_and_counts(smoke):
    assert [(i.id, len(i.cells)) for i in smoke.instances] == [
        ("llama-1b_tp1_b64", 6), ("llama-1b_tp2_b64", 2), ("llama-1b_tp1_b16", 2)]
    assert smoke.config["engine"] == "sim"
    assert {s.name: len(s.cells) for s in smoke.studies} == {"workload": 6, "tp": 4, "batch": 4}
    assert smoke.instance("llama-1b_tp1_b64").loads == ("low", "medium")


def test_study_loads_are_added_to_the_instances_that_need_them():
    p = plan_for(preset="paper", load={"points": ["medium"]})
    assert p.instance("llama2-70b_tp8_b4").loads == ("medium", "low")  # batch: low_load
    assert p.instance("llama2-70b_tp8_b64").loads == ("medium", "low")  # shared with batch
    assert p.instance("llama2-70b_tp2_b64").loads == ("medium",)


def test_observe_mode_has_one_native_clock():
    p = plan_for(preset="smoke", clocks={"mode": "observe"})
    assert {c.clock for c in p.cells} == {"native"}
    assert len(p.cells) == 3 + 1 + 1
    assert not any(o.startswith("clocks.mhz") for o in gplan.measure_overrides(p, "llama-1b_tp1_b64"))


def test_a_null_study_is_dropped_and_its_figures_go():
    p = plan_for(preset="smoke", gpus_available=1, studies={"tp": "null"})
    assert p.study_names == ("workload", "batch")
    assert [i.id for i in p.instances] == ["llama-1b_tp1_b64", "llama-1b_tp1_b16"]
    assert len(p.figures) == 10
    assert all(gplan.FIGURE_STUDY[f] != "tp" for f in p.figures)


def test_paths_follow_the_results_format(smoke):
    cell = gplan.Cell("llama-1b_tp1_b64", "f1980", "M-M")
    assert smoke.raw_summary(cell) == "results/raw/llama-1b_tp1_b64/cells/f1980/M-M/summary.json"
    assert smoke.cell_json(cell) == "results/cells/llama-1b_tp1_b64/f1980/M-M.json"
    assert smoke.run_marker("llama-1b_tp1_b64") == "results/runs/llama-1b_tp1_b64.done"
    assert smoke.figure_file("fig10_energy_tp", "png") == "reports/figures/fig10_energy_tp.png"
    assert smoke.model_dir() == "results/models/llama-1b"
    local = plan_for(preset="smoke", model={"source": "local", "path": "/data/m"})
    assert local.model_dir() == "/data/m"


def test_study_dict_carries_clocks_and_model(paper):
    d = paper.study_dict("tp")
    assert d["tps"] == [2, 4, 8] and d["workload"] == "M-M" and d["load"] == "medium"
    assert d["model"] == "llama2-70b" and d["clocks"][0] == 800 and d["clocks"][-1] == 1980
    assert d["clock_labels"] == PAPER_CLOCKS and d["name"] == "tp"
    both = paper.studies_dict()
    assert set(both) == {"workload", "tp", "batch", "clocks", "model"}
    assert both["tp"] == d and both["clocks"] == d["clocks"]


def overrides_dict(overrides: list[str]) -> dict[str, str]:
    return dict(o.split("=", 1) for o in overrides)


def test_measure_overrides_follow_the_contract(paper):
    o = overrides_dict(gplan.measure_overrides(paper, "llama2-70b_tp4_b64"))
    assert o["out_dir"] == "results/raw/llama2-70b_tp4_b64"
    assert o["model"] == "llama2-70b" and o["model.path"] == "results/models/llama2-70b"
    assert o["engine"] == "vllm" and o["gpu"] == "h100-sxm" and o["clocks"] == "pin"
    assert o["clocks.mhz"] == "[800,1000,1200,1400,1600,1800,1980]"
    assert o["workload.ids"] == "[M-M]"
    assert o["load.points"] == "[low,medium,high]"
    assert o["instance.tp"] == "4" and o["instance.max_batch"] == "64"
    assert o["load"] == "paper" and o["search"] == "paper" and o["slo.scale"] == "3.0"


def test_measure_overrides_compose_in_the_measure_schema(paper, smoke):
    """The overrides must be accepted by `greenllm measure`'s own Hydra config."""
    compose = pytest.importorskip("greenllm.measure.compose")
    for p, iid in ((paper, "llama2-70b_tp8_b64"), (smoke, "llama-1b_tp2_b64")):
        inst = p.instance(iid)
        cfg = compose.to_plain(compose.compose(gplan.measure_overrides(p, iid)))
        assert cfg["out_dir"] == p.raw_dir(iid)
        assert cfg["instance"]["tp"] == inst.tp
        assert cfg["instance"]["max_batch"] == inst.max_batch
        assert cfg["workload"]["ids"] == list(inst.workloads)
        assert cfg["load"]["points"] == list(inst.loads)
        assert [f"f{m}" for m in cfg["clocks"]["mhz"]] == list(inst.clocks)
        assert cfg["engine"]["kind"] == p.config["engine"]
        assert cfg["search"]["max_probes"] == p.config["search"]["max_probes"]


def test_load_policy_keys_pass_from_the_workflow_to_measure():
    """load.stop_per, load.exact_rate, load.prompt_format, load.trust_env and
    load.engine_starts are keys of the measure config: the workflow schema takes them and
    hands them on."""
    compose = pytest.importorskip("greenllm.measure.compose")
    load = {"points": ["low"], "stop_per": "point", "exact_rate": False,
            "prompt_format": "token_ids", "trust_env": False, "engine_starts": 2}
    p = plan_for(preset="smoke", load=load)
    iid = p.instances[0].id
    o = overrides_dict(gplan.measure_overrides(p, iid))
    assert o["load.stop_per"] == "point" and o["load.exact_rate"] == "false"
    cfg = compose.to_plain(compose.compose(gplan.measure_overrides(p, iid)))
    assert cfg["load"]["stop_per"] == "point" and cfg["load"]["exact_rate"] is False
    assert cfg["load"]["prompt_format"] == "token_ids" and cfg["load"]["trust_env"] is False
    assert o["load.engine_starts"] == "2" and cfg["load"]["engine_starts"] == 2
    with pytest.raises(ConfigError, match="engine_starts"):
        plan_for(preset="smoke", load={"points": ["low"], "engine_starts": 0})
    with pytest.raises(ConfigError, match="stop_per") as err:
        plan_for(preset="smoke", load={"points": ["low"], "stop_per": "each"})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value, expected", [
    (None, "null"), (True, "true"), (3, "3"), (0.5, "0.5"), ("M-M", "M-M"),
    ("meta-llama/Llama-2-70b-hf", "meta-llama/Llama-2-70b-hf"), ("true", "'true'"),
    ("a b", "'a b'"), ("it's", "'it\\'s'"), ([1, "S-S"], "[1,S-S]"),
    ({"low": 0.25}, "{low:0.25}"),
])
def test_hydra_value(value, expected):
    assert gplan.hydra_value(value) == expected


@pytest.mark.parametrize("config, message", [
    ({"clocks": {"mode": "pinned"}}, "config key 'clocks.mode': 'pinned' is not one of"),
    ({"studies": {"tp": {"tpz": [1]}}}, "unknown config key 'studies.tp.tpz'"),
    ({"engine": "tgi"}, "config key 'engine'"),
    ({"gpus_available": 4}, "config key 'studies.workload.tp': TP 8 needs 8 GPUs"),
    ({"clocks": {"mhz": []}}, "config key 'clocks.mhz': pin mode needs"),
    ({"model": {"load_format": "real"}}, "config key 'model.load_format'"),
    ({"model": {"name": "gpt-9"}}, "config key 'model.name': no built-in shape 'gpt-9'"),
    ({"model": {"source": "local"}}, "config key 'model.path'"),
    ({"studies": {"workload": {"workloads": ["X-L"]}}}, "config key 'studies.workload.workloads'"),
    ({"studies": {"batch": {"max_batches": [0]}}}, "config key 'studies.batch.max_batches.0'"),
    ({"preset": "nope"}, "config key 'preset': no preset 'nope' (known: paper, smoke"),
    ({"bogus": 1}, "unknown config key 'bogus'"),
])
def test_bad_config_is_one_line_naming_the_key(config, message):
    with pytest.raises(ConfigError) as err:
        plan_for(**{"preset": "paper", **config})
    text = str(err.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_missing_key_is_named():
    with pytest.raises(ConfigError, match=r"^missing config key 'studies\.tp\.tps'$"):
        schema = gplan.load_yaml(ROOT / gplan.SCHEMA_RELPATH)
        cfg = gplan.load_yaml(ROOT / "config/presets/smoke.yaml")
        del cfg["studies"]["tp"]["tps"]
        gplan.validate_config({"preset": "smoke", **cfg}, schema)


def test_command_line_strings_are_coerced_by_the_schema():
    # snakemake --config 'clocks={mhz: [800, 1980]}' hands nested scalars over as strings
    p = plan_for(preset="smoke", gpus_available="2",
                 clocks={"mhz": ["800", "1980"]}, studies={"tp": {"tps": ["1"]}})
    assert [i.id for i in p.instances] == ["llama-1b_tp1_b64", "llama-1b_tp1_b16"]
    assert {c.clock for c in p.cells} == {"f800", "f1980"}
    assert p.config["search"]["max_probes"] == 10


def test_defaults_are_filled(smoke):
    assert smoke.config["results_dir"] == "results"
    assert smoke.config["measure_overrides"] == []
    assert smoke.config["model"]["revision"] is None


def test_preset_can_be_a_file(tmp_path):
    preset = gplan.load_yaml(ROOT / "config/presets/smoke.yaml")
    preset["studies"] = {"workload": preset["studies"]["workload"]}
    import yaml

    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(preset))
    p = plan_for(preset=str(path))
    assert p.study_names == ("workload",) and len(p.figures) == 5


def test_model_params_match_published_sizes():
    from greenllm.load.shapes import SHAPES

    # Llama-2 paper / HF model cards: 6.74e9, 13.0e9, 69.0e9 parameters; TinyLlama 1.1e9
    for name, published in (("llama2-7b", 6.74e9), ("llama2-13b", 13.0e9),
                            ("llama2-70b", 68.98e9), ("llama-1b", 1.10e9)):
        assert gplan.model_params(SHAPES[name]) == pytest.approx(published, rel=0.01)


def test_estimate_scales_with_cells_tp_and_budget(smoke):
    from greenllm.load.shapes import SHAPES

    groups = gplan.load_measure_groups(ROOT, smoke.config)
    assert groups["search"]["probe_max_duration_s"] == 10  # from config/measure/search/smoke.yaml
    shape = SHAPES["llama-1b"]
    one = gplan.Instance("llama-1b", 1, 64, ("f1980",), ("M-M",), ("medium",), ("tp",))
    two_clocks = gplan.Instance("llama-1b", 1, 64, ("f1000", "f1980"), ("M-M",), ("medium",), ())
    e1 = gplan.estimate_instance(one, shape, groups)
    e2 = gplan.estimate_instance(two_clocks, shape, groups)
    assert e2.cells_s == pytest.approx(2 * e1.cells_s)
    assert e2.start_s == e1.start_s
    restarted = {**groups, "load": {**groups["load"], "engine_starts": 3}}
    assert gplan.estimate_instance(one, shape, restarted).start_s == pytest.approx(3 * e1.start_s)
    tp2 = gplan.Instance("llama-1b", 2, 64, ("f1980",), ("M-M",), ("medium",), ())
    assert gplan.estimate_instance(tp2, shape, groups).gpu_hours > e1.gpu_hours
    capped = {**groups, "search": {**groups["search"], "time_budget_s": 1.0}}
    uncapped = {**groups, "search": {**groups["search"], "time_budget_s": None}}
    assert (gplan.estimate_instance(one, shape, uncapped).cells_s
            > gplan.estimate_instance(one, shape, capped).cells_s)
    total = gplan.estimate(smoke, ROOT)
    assert [e.instance_id for e in total] == [i.id for i in smoke.instances]
    assert gplan.runtime_minutes(total[0]) >= total[0].total_s / 60


def test_gpu_profile_h200_is_accepted_and_an_unknown_one_is_one_line():
    compose = pytest.importorskip("greenllm.measure.compose")
    p = plan_for(preset="smoke", gpu="h200")
    overrides = gplan.measure_overrides(p, p.instances[0].id)
    assert "gpu=h200" in overrides
    cfg = compose.to_plain(compose.compose(overrides))
    assert cfg["gpu"]["name"] == "h200" and cfg["gpu"]["max_sm_clock_mhz"] == 1980
    with pytest.raises(ConfigError, match=r"config key 'gpu': no profile 'h300' .*known: "
                                          r"h100-sxm, h200"):
        plan_for(preset="smoke", gpu="h300")
