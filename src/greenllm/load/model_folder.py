"""A servable Llama model folder without weights: config, tokenizer, generation config.

``vllm serve <folder> --load-format dummy`` fills the weights with random values; energy
and latency depend on the shape alone. The tokenizer is word-level: token id ``i`` is the
word ``"t<i>"`` for every ``i`` in ``[0, vocab_size)``, so the vocabulary is exactly the
model's and any generated id decodes. Ids 0, 1, 2 (``t0``, ``t1``, ``t2``) double as the
unk, bos and eos tokens (marked special, matched only as whole words), which keeps the
vocabulary size equal to ``vocab_size`` instead of adding three extra entries.

Decoding joins words with single spaces, so the text of a streamed chunk holds as many
whitespace-separated words as it carries ordinary tokens (special tokens decode to
nothing when skipped, which is why the client prefers the server's ``token_ids``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError
from greenllm.load.shapes import REQUIRED_SHAPE_KEYS

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
FOLDER_MARKER = "greenllm_model.json"


def token_word(token_id: int) -> str:
    return f"t{token_id}"


def build_tokenizer(vocab_size: int) -> Any:
    """The word-level ``tokenizers.Tokenizer`` described in the module docstring."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel(
        vocab={token_word(i): i for i in range(vocab_size)}, unk_token=token_word(UNK_ID)
    ))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    # WordPiece's decoder puts one space before every token not starting with "##"; no
    # "t<i>" does, so it simply joins words with spaces (cleanup off: keep text as is).
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    # single_word: "t1" must not match inside "t10"; they already have ids 0..2.
    tok.add_special_tokens([
        AddedToken(token_word(i), special=True, single_word=True, normalized=False)
        for i in (UNK_ID, BOS_ID, EOS_ID)
    ])
    return tok


def _validate_shape(shape: dict[str, Any], name: str) -> dict[str, Any]:
    if not isinstance(shape, dict):
        raise ConfigError(f"model {name!r}: shape must be a mapping, got {shape!r}")
    missing = [k for k in REQUIRED_SHAPE_KEYS if k not in shape]
    if missing:
        raise ConfigError(f"model {name!r}: shape lacks {', '.join(missing)}")
    for key in REQUIRED_SHAPE_KEYS:
        value = shape[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"model {name!r}: {key} must be a positive integer, got {value!r}")
    if shape["hidden_size"] % shape["num_attention_heads"]:
        raise ConfigError(f"model {name!r}: hidden_size must be a multiple of num_attention_heads")
    if shape["num_attention_heads"] % shape["num_key_value_heads"]:
        raise ConfigError(
            f"model {name!r}: num_attention_heads must be a multiple of num_key_value_heads"
        )
    if shape["vocab_size"] <= EOS_ID + 1:
        raise ConfigError(f"model {name!r}: vocab_size must exceed {EOS_ID + 1}")
    return shape


def llama_config(shape: dict[str, Any], name: str, max_position_embeddings: int) -> dict[str, Any]:
    return {
        "_name_or_path": name,
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": shape["hidden_size"],
        "intermediate_size": shape["intermediate_size"],
        "num_hidden_layers": shape["num_hidden_layers"],
        "num_attention_heads": shape["num_attention_heads"],
        "num_key_value_heads": shape["num_key_value_heads"],
        "head_dim": shape["hidden_size"] // shape["num_attention_heads"],
        "vocab_size": shape["vocab_size"],
        "max_position_embeddings": max_position_embeddings,
        "hidden_act": "silu",
        "rms_norm_eps": shape.get("rms_norm_eps", 1e-5),
        "rope_theta": shape.get("rope_theta", 10000.0),
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "torch_dtype": "bfloat16",
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "tie_word_embeddings": False,
    }


def _special(token_id: int) -> dict[str, Any]:
    return {"content": token_word(token_id), "lstrip": False, "normalized": False,
            "rstrip": False, "single_word": True, "special": True}


def tokenizer_config(max_position_embeddings: int) -> dict[str, Any]:
    # PreTrainedTokenizerFast: use tokenizer.json as is (a "llama" model_type would
    # otherwise pick LlamaTokenizer, which expects a sentencepiece/BPE vocabulary).
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": token_word(UNK_ID),
        "bos_token": token_word(BOS_ID),
        "eos_token": token_word(EOS_ID),
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_position_embeddings,
        "added_tokens_decoder": {str(i): _special(i) for i in (UNK_ID, BOS_ID, EOS_ID)},
    }


def build_model_folder(
    dest: str | os.PathLike[str],
    shape: dict[str, Any],
    name: str,
    max_position_embeddings: int = 4096,
) -> Path:
    """Write a servable, weightless Llama folder at ``dest`` atomically; return its path.

    The folder is assembled in a temporary directory beside ``dest`` and renamed into
    place, so a reader never sees half a folder. An existing folder at ``dest`` is
    replaced only if greenllm built it and it holds nothing else (``greenllm.ownership``):
    a user's folder is never deleted.
    """
    from greenllm.ownership import check_model_folder_replaceable, model_marker_files

    shape = _validate_shape(shape, name)
    if isinstance(max_position_embeddings, bool) or not isinstance(
        max_position_embeddings, int
    ) or max_position_embeddings < 1:
        raise ConfigError(
            f"max_position_embeddings must be a positive integer, got {max_position_embeddings!r}"
        )
    dest = Path(dest)
    check_model_folder_replaceable(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        files = {
            "config.json": llama_config(shape, name, max_position_embeddings),
            "generation_config.json": {"bos_token_id": BOS_ID, "eos_token_id": EOS_ID,
                                       "_from_model_config": True},
            "tokenizer_config.json": tokenizer_config(max_position_embeddings),
            "special_tokens_map.json": {"unk_token": _special(UNK_ID),
                                        "bos_token": _special(BOS_ID),
                                        "eos_token": _special(EOS_ID)},
            FOLDER_MARKER: {"name": name, "shape": shape, "weights": "none (serve with "
                            "--load-format dummy)", "tokenizer": "word-level t0..t{vocab-1}"},
        }
        # The marker lists every file greenllm writes: a rebuild may replace the folder
        # only while it holds these and nothing else.
        files[FOLDER_MARKER]["files"] = model_marker_files([*files, "tokenizer.json"])
        for filename, content in files.items():
            (tmp / filename).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
        build_tokenizer(shape["vocab_size"]).save(str(tmp / "tokenizer.json"))
        for path in tmp.iterdir():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
            os.replace(dest, old / "replaced")
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            try:
                os.replace(tmp, dest)
            except OSError:
                # Another builder (an instance started side by side) renamed its folder
                # into place first: that one serves this caller too.
                if not (dest / "config.json").is_file():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
