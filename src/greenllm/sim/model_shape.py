"""The shape of a dense decoder-only transformer, read from a Hugging Face ``config.json``.

The simulator needs dimensions, never weights: parameter bytes, FLOPs per token and KV
bytes per token all follow from these numbers (Llama-style: gated MLP, grouped-query
attention, bf16).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenllm.errors import ConfigError

_REQUIRED = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
)


@dataclass(frozen=True)
class ModelShape:
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    head_dim: int
    tie_word_embeddings: bool = False
    dtype_bytes: int = 2  # bf16; the simulator always models 16-bit weights and KV cache
    name: str = "model"

    @classmethod
    def from_dims(cls, dims: Mapping[str, Any] | Any, name: str) -> ModelShape:
        """A shape from the dimensions of a model group's ``shape`` (Hugging Face field
        names, ``config/measure/model/*.yaml``; a mapping, or the measure config's typed
        ``model.shape``): the simulator's view of a built-in model."""
        def dim(key: str) -> int:
            return int(dims[key] if isinstance(dims, Mapping) else getattr(dims, key))

        heads = dim("num_attention_heads")
        return cls(hidden_size=dim("hidden_size"), num_layers=dim("num_hidden_layers"),
                   num_heads=heads, num_kv_heads=dim("num_key_value_heads"),
                   intermediate_size=dim("intermediate_size"), vocab_size=dim("vocab_size"),
                   head_dim=dim("hidden_size") // heads, name=name)

    @classmethod
    def from_config_json(cls, path: str | os.PathLike[str]) -> ModelShape:
        """Read a model folder (or its ``config.json``). Raises ConfigError on bad input."""
        p = Path(path)
        if p.is_dir():
            p = p / "config.json"
        if not p.is_file():
            raise ConfigError(f"model config not found: {p} (need a folder with config.json)")
        try:
            cfg = json.loads(p.read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read model config {p}: {err}") from None
        if not isinstance(cfg, dict):
            raise ConfigError(f"model config {p} is not a JSON object")
        # Multimodal / wrapper configs nest the language model's shape.
        if "text_config" in cfg and "hidden_size" not in cfg:
            cfg = cfg["text_config"]
        missing = [k for k in _REQUIRED if not isinstance(cfg.get(k), int)]
        if missing:
            raise ConfigError(f"model config {p} lacks integer field(s): {', '.join(missing)}")
        heads = cfg["num_attention_heads"]
        kv_heads = cfg.get("num_key_value_heads") or heads
        head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
        shape = cls(
            hidden_size=cfg["hidden_size"],
            num_layers=cfg["num_hidden_layers"],
            num_heads=heads,
            num_kv_heads=int(kv_heads),
            intermediate_size=cfg["intermediate_size"],
            vocab_size=cfg["vocab_size"],
            head_dim=int(head_dim),
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            name=p.parent.name or "model",
        )
        shape.validate()
        return shape

    def validate(self) -> None:
        for field_name in (
            "hidden_size",
            "num_layers",
            "num_heads",
            "num_kv_heads",
            "intermediate_size",
            "vocab_size",
            "head_dim",
        ):
            if getattr(self, field_name) <= 0:
                raise ConfigError(
                    f"model shape {field_name} must be positive, got {getattr(self, field_name)}"
                )
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"num_attention_heads {self.num_heads} is not a multiple of num_key_value_heads {self.num_kv_heads}"
            )

    # --- derived sizes (whole model, not per GPU) ---------------------------------
    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def params_per_layer(self) -> int:
        attn = self.hidden_size * (self.q_dim + 2 * self.kv_dim) + self.q_dim * self.hidden_size
        mlp = 3 * self.hidden_size * self.intermediate_size  # gate, up, down (SwiGLU)
        return attn + mlp

    @property
    def lm_head_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def total_params(self) -> int:
        embed = 0 if self.tie_word_embeddings else self.vocab_size * self.hidden_size
        return self.num_layers * self.params_per_layer + self.lm_head_params + embed

    def kv_bytes_per_token(self, tp: int = 1) -> float:
        """K and V of one token over all layers, on one GPU of a TP group.

        With TP greater than the number of KV heads, vLLM replicates KV heads so each
        GPU still holds one.
        """
        kv_heads_per_gpu = max(1.0, self.num_kv_heads / tp)
        return 2 * kv_heads_per_gpu * self.head_dim * self.num_layers * self.dtype_bytes

    def check_tensor_parallel(self, tp: int) -> None:
        """vLLM's rule: TP divides the attention heads, and KV heads split or replicate evenly."""
        if tp < 1:
            raise ConfigError(f"tensor parallel size must be >= 1, got {tp}")
        if self.num_heads % tp:
            raise ConfigError(
                f"tensor parallel size {tp} does not divide num_attention_heads {self.num_heads}"
            )
        if self.num_kv_heads % tp and tp % self.num_kv_heads:
            raise ConfigError(
                f"tensor parallel size {tp} and num_key_value_heads {self.num_kv_heads}: "
                "one must divide the other"
            )
