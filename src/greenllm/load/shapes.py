"""Llama model shapes served with random ("dummy") weights.

Energy and latency depend on a model's dimensions, not on its trained weights, so greenllm
serves a ``config.json`` of the right shape with ``vllm serve --load-format dummy``.
Values are those of the public Hugging Face configs of each model.
"""

from __future__ import annotations

from typing import Any

SHAPES: dict[str, dict[str, Any]] = {
    "llama2-70b": {
        "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
        "num_key_value_heads": 8, "intermediate_size": 28672, "vocab_size": 32000,
    },
    "llama2-13b": {
        "hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40,
        "num_key_value_heads": 40, "intermediate_size": 13824, "vocab_size": 32000,
    },
    "llama2-7b": {
        "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000,
    },
    # TinyLlama-1.1B's shape: small enough for one GPU and quick engine starts.
    "llama-1b": {
        "hidden_size": 2048, "num_hidden_layers": 22, "num_attention_heads": 32,
        "num_key_value_heads": 4, "intermediate_size": 5632, "vocab_size": 32000,
    },
}

REQUIRED_SHAPE_KEYS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "intermediate_size", "vocab_size",
)
