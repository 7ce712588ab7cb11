import json

import numpy as np
import pytest
from tokenizers import Tokenizer

from greenllm.errors import ConfigError
from greenllm.load.model_folder import build_model_folder
from greenllm.load.prompts import FIRST_ORDINARY_ID, prompt_token_id_batch, prompt_token_ids
from greenllm.load.shapes import SHAPES


def test_prompts_have_exact_length_and_no_special_ids():
    rng = np.random.default_rng(0)
    ids = prompt_token_ids(1024, 32000, rng)
    assert len(ids) == 1024 and all(isinstance(i, int) for i in ids)
    assert min(ids) >= FIRST_ORDINARY_ID and max(ids) < 32000
    batch = prompt_token_id_batch(50, 100, 32000, seed=1)
    assert batch.shape == (50, 100) and batch.min() >= FIRST_ORDINARY_ID
    # Distinct prompts: no two requests share even their first 16 ids (a prefix block).
    assert len({tuple(row[:16]) for row in batch.tolist()}) == 50
    with pytest.raises(ConfigError):
        prompt_token_ids(0, 32000, rng)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build_model_folder(tmp_path_factory.mktemp("m") / "llama-1b", SHAPES["llama-1b"],
                              "llama-1b", max_position_embeddings=2048)


def test_config_is_a_llama_of_the_shape(folder):
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["model_type"] == "llama"
    for key, value in SHAPES["llama-1b"].items():
        assert config[key] == value
    assert config["max_position_embeddings"] == 2048
    assert config["torch_dtype"] == "bfloat16" and config["tie_word_embeddings"] is False
    assert (config["bos_token_id"], config["eos_token_id"]) == (1, 2)
    gen = json.loads((folder / "generation_config.json").read_text())
    assert (gen["bos_token_id"], gen["eos_token_id"]) == (1, 2)
    assert not list(folder.parent.glob(".llama-1b.*")), "temporary folder left behind"


def test_tokenizer_round_trips_words_and_has_the_model_vocab(folder):
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == 32000
    assert tok.encode("t5 t17").ids == [5, 17]
    assert tok.encode("t10 t1 t100 t31999").ids == [10, 1, 100, 31999]  # t1 not inside t10
    assert tok.decode([5, 17]) == "t5 t17"
    # Decoded text has one word per ordinary token: the client counts words.
    ids = list(range(3, 40))
    assert len(tok.decode(ids).split()) == len(ids)


def test_transformers_loads_the_folder_offline(folder):
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert tok("t5 t17", add_special_tokens=False)["input_ids"] == [5, 17]
    assert tok.decode([5, 17]) == "t5 t17"
    assert (tok.bos_token_id, tok.eos_token_id) == (1, 2)
    assert len(tok) == 32000


def test_rebuilding_replaces_the_folder(tmp_path):
    dest = tmp_path / "m"
    shape = dict(SHAPES["llama-1b"], vocab_size=64, num_hidden_layers=2)
    build_model_folder(dest, shape, "tiny")
    build_model_folder(dest, dict(shape, num_hidden_layers=3), "tiny")
    assert json.loads((dest / "config.json").read_text())["num_hidden_layers"] == 3
    assert Tokenizer.from_file(str(dest / "tokenizer.json")).get_vocab_size() == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]



def _a_rival_builds_first(monkeypatch, rival):
    """Run `rival` just before the builder's final rename: the side-by-side race made
    deterministic (two instances that both saw no folder, the other one renaming first).
    The rename itself is the real os.replace."""
    import greenllm.load.model_folder as mf

    real_replace = mf.os.replace
    state = {"done": False}

    def replace(src, dst):
        if not state["done"]:
            state["done"] = True
            rival()
        return real_replace(src, dst)

    monkeypatch.setattr(mf.os, "replace", replace)


def test_a_builder_that_loses_the_race_keeps_the_winners_folder(tmp_path, monkeypatch):
    dest = tmp_path / "m"
    shape = dict(SHAPES["llama-1b"], vocab_size=64, num_hidden_layers=2)
    _a_rival_builds_first(monkeypatch, lambda: build_model_folder(
        dest, dict(shape, num_hidden_layers=3), "tiny"))
    assert build_model_folder(dest, shape, "tiny") == dest
    # The winner's folder (3 layers) stands, whole; the loser's temporary folder is gone.
    assert json.loads((dest / "config.json").read_text())["num_hidden_layers"] == 3
    assert Tokenizer.from_file(str(dest / "tokenizer.json")).get_vocab_size() == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_a_lost_rename_onto_something_else_is_still_an_error(tmp_path, monkeypatch):
    dest = tmp_path / "m"

    def rival():  # not a model folder: nothing that could serve this caller
        dest.mkdir()
        (dest / "notes.txt").write_text("mine")

    _a_rival_builds_first(monkeypatch, rival)
    with pytest.raises(OSError):
        build_model_folder(dest, dict(SHAPES["llama-1b"], vocab_size=64), "tiny")
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]

def test_all_shapes_are_consistent():
    for name, shape in SHAPES.items():
        assert shape["hidden_size"] % shape["num_attention_heads"] == 0, name
        assert shape["num_attention_heads"] % shape["num_key_value_heads"] == 0, name
    assert SHAPES["llama2-70b"]["num_key_value_heads"] == 8


@pytest.mark.parametrize("change, match", [
    ({"hidden_size": 1000}, "multiple of num_attention_heads"),
    ({"num_key_value_heads": 5}, "multiple of num_key_value_heads"),
    ({"vocab_size": 0}, "positive integer"),
])
def test_bad_shapes_fail_before_writing(tmp_path, change, match):
    with pytest.raises(ConfigError, match=match):
        build_model_folder(tmp_path / "m", dict(SHAPES["llama-1b"], **change), "bad")
    assert not any(tmp_path.iterdir())


def test_shapes_are_the_hydra_model_groups(tmp_path, monkeypatch):
    from greenllm.load.shapes import _builtin_shapes
    from greenllm.measure.compose import compose

    # One source: each built-in shape is what `greenllm measure model=<name>` composes.
    for name, shape in SHAPES.items():
        composed = dict(compose([f"model={name}", "out_dir=x"]).model.shape)
        composed.pop("max_position_embeddings", None)
        assert composed == shape, name
    # A new shape is a new file in the model group.
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "tiny.yaml").write_text(
        "name: tiny\nshape: {hidden_size: 64, num_hidden_layers: 2}\n")
    monkeypatch.setenv("GREENLLM_CONFIG_DIR", str(tmp_path))
    assert _builtin_shapes() == {"tiny": {"hidden_size": 64, "num_hidden_layers": 2}}
