"""config/README.md documents every key of the workflow config schema."""

from __future__ import annotations

from pathlib import Path

from greenllm.plan import load_yaml

ROOT = Path(__file__).resolve().parents[2]


def schema_keys(node: dict, root: dict, prefix: str = "") -> list[str]:
    if "$ref" in node:
        node = {**root["$defs"][node["$ref"].split("/")[-1]], **node}
    keys = []
    for name, sub in (node.get("properties") or {}).items():
        key = f"{prefix}{name}"
        keys.append(key)
        keys += schema_keys(sub, root, f"{key}.")
    return keys


def test_every_config_key_is_documented() -> None:
    schema = load_yaml(ROOT / "workflow/schemas/config.schema.yaml", "schema")
    keys = schema_keys(schema, schema)
    assert "studies.batch.low_load" in keys and len(keys) > 50  # the walk reaches the leaves
    readme = (ROOT / "config/README.md").read_text()
    # a mapping counts as documented through its keys (`model` through `model.name`, ...)
    missing = [k for k in keys if f"`{k}`" not in readme and f"`{k}." not in readme]
    assert not missing, f"config keys not documented in config/README.md: {missing}"
