"""Llama model shapes served with random ("dummy") weights.

Energy and latency depend on a model's dimensions, not on its trained weights, so greenllm
serves a ``config.json`` of the right shape with ``vllm serve --load-format dummy``.
Values are those of the public Hugging Face configs of each model, kept once, in the
Hydra model group ``config/measure/model/<name>.yaml`` (a new shape is a new file there).
"""

from __future__ import annotations

from typing import Any

from greenllm.config_paths import measure_config_path


def _builtin_shapes() -> dict[str, dict[str, Any]]:
    """Every ``shape`` of the Hydra model group (``config/measure/model/*.yaml``): one
    source for the measure config, ``greenllm download`` and the plan."""
    import yaml

    shapes: dict[str, dict[str, Any]] = {}
    for path in sorted((measure_config_path() / "model").glob("*.yaml")):
        entry = yaml.safe_load(path.read_text()) or {}
        if isinstance(entry.get("shape"), dict):
            # The context length is the caller's (build_model_folder's argument), not
            # part of the architecture compared across tools.
            shapes[str(entry.get("name") or path.stem)] = {
                k: v for k, v in entry["shape"].items() if k != "max_position_embeddings"}
    return shapes


SHAPES: dict[str, dict[str, Any]] = _builtin_shapes()

REQUIRED_SHAPE_KEYS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "intermediate_size", "vocab_size",
)
