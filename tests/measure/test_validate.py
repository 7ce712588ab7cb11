"""Bad measurement input fails in one line, naming what to fix, before anything starts."""

from __future__ import annotations

import pytest

from greenllm.errors import ConfigError, GreenllmError
from greenllm.load.workloads import workload_from
from greenllm.measure.compose import compose, config_hash
from greenllm.measure.validate import max_model_len, validate_static


def _cfg(tmp_path, *overrides):
    return compose([f"out_dir={tmp_path}", *overrides])


@pytest.mark.parametrize(
    "overrides, expect",
    [
        (["instance.tpp=2"], "instance.tpp"),
        (["instance.tp=abc"], "instance.tp"),
        (["model=llama9"], "llama9"),
        (["clocks.mhz=[fast]"], "clocks.mhz"),
        (["load.exact_rate=sometimes"], "exact_rate"),
    ],
)
def test_compose_errors_are_one_line(tmp_path, overrides, expect):
    with pytest.raises(ConfigError) as exc:
        _cfg(tmp_path, *overrides)
    assert expect in str(exc.value) and "\n" not in str(exc.value)


def test_out_dir_is_required():
    with pytest.raises(ConfigError, match="out_dir"):
        compose([])


@pytest.mark.parametrize(
    "overrides, expect",
    [
        (["model=llama2-70b", "instance.tp=3"], "does not divide the model's 64 attention heads"),
        (["model=llama-1b", "instance.tp=8"], None),  # 32 heads / 8 ok; 4 KV heads replicated
        (["model=llama2-13b", "instance.tp=16"], "does not divide the model's 40 attention heads"),
        (["clocks.mhz=[800,2100]"], "2100 MHz, outside"),
        (["clocks=pin", "clocks.mhz=[]"], "clocks.mhz is empty"),
        (["engine.kind=tgi"], "engine.kind"),
        (["load.points=[medium,extreme]"], "unknown load 'extreme'"),
        (["slo.scale=0.5"], "slo.scale"),
        (["load.arrival=uniform"], "load.arrival"),
        (["load.points=[]"], "load.points and load.rates_rps are both empty"),
        (["load.points=[]", "load.rates_rps=[5,0]"], "rates must be numbers > 0"),
        (["load.points=[]", "load.rates_rps=[5,12.5]"], None),
        (["load.prompt_format=ids"], "load.prompt_format='ids': must be one of text, token_ids"),
        (["load.prompt_format=token_ids"], None),
    ],
)
def test_static_validation(tmp_path, overrides, expect):
    cfg = _cfg(tmp_path, *overrides)
    if expect is None:
        validate_static(cfg)
        return
    with pytest.raises(GreenllmError) as exc:
        validate_static(cfg)
    assert expect in str(exc.value) and "\n" not in str(exc.value)


def test_unknown_workload_is_one_line():
    with pytest.raises(ConfigError) as exc:
        workload_from("X-L")
    assert "X-L" in str(exc.value) and "\n" not in str(exc.value)


def test_context_length_checked_against_model(tmp_path):
    cfg = _cfg(tmp_path, "model.shape.max_position_embeddings=512")
    with pytest.raises(ConfigError, match="max_position_embeddings=512"):
        max_model_len(cfg, [workload_from("L-L")])
    ok = _cfg(tmp_path)
    assert max_model_len(ok, [workload_from("L-L"), workload_from("S-S")]) == 1024 + 256 + 16


def test_config_hash_tracks_values(tmp_path):
    a, b = _cfg(tmp_path), _cfg(tmp_path, "instance.tp=2")
    assert config_hash(a) == config_hash(_cfg(tmp_path)) != config_hash(b)
