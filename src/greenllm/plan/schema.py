"""Schema validation of the workflow config, with one-line errors naming the key."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from greenllm.errors import ConfigError
from greenllm.sweep_axes import any_setting


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return _resolve({**node, **{k: v for k, v in schema.items() if k != "$ref"}}, root)
    return schema


def _types(schema: Mapping[str, Any], root: Mapping[str, Any]) -> set[str]:
    schema = _resolve(schema, root)
    types = schema.get("type", [])
    out = {types} if isinstance(types, str) else set(types)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        out |= _types(branch, root)
    return out


_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)")


def coerce_to_schema(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """Turn strings into the numbers/booleans/nulls the schema expects.

    ``snakemake --config 'clocks={mhz: [800, 1980]}'`` parses nested values with YAML's
    BaseLoader, which keeps every scalar a string; without this, ``"800"`` would fail
    the integer check although the user wrote a number.
    """
    schema = _resolve(schema, root)
    types = _types(schema, root)
    if isinstance(value, Mapping):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        out = {}
        for key, sub in value.items():
            sub_schema = props.get(key, extra if isinstance(extra, Mapping) else None)
            out[key] = coerce_to_schema(sub, sub_schema, root) if sub_schema else sub
        return out
    if isinstance(value, list):
        items = schema.get("items")
        return [coerce_to_schema(v, items, root) if items else v for v in value]
    if isinstance(value, str) and "string" not in types:
        text = value.strip()
        if "integer" in types and _INT_RE.fullmatch(text):
            return int(text)
        if "number" in types and _FLOAT_RE.fullmatch(text):
            return float(text)
        if "boolean" in types and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if "null" in types and text.lower() in ("null", "none", "~", ""):
            return None
    if isinstance(value, str) and "null" in types and value.strip().lower() in ("null", "~"):
        return None
    return value


def _key(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _error_line(err: Any, root_schema: Mapping[str, Any]) -> str:
    """One line for a jsonschema ValidationError, naming the config key."""
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = set(_resolve(err.schema, root_schema).get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra:
            return (
                f"unknown config key '{_key([*path, extra[0]])}' "
                f"(allowed here: {', '.join(sorted(allowed))})"
            )
    if err.validator == "required":
        match = re.match(r"'([^']+)' is a required property", err.message)
        if match:
            return f"missing config key '{_key([*path, match.group(1)])}'"
    message = err.message if len(err.message) <= 200 else err.message[:197] + "..."
    return f"config key '{_key(path)}': {message}"


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """A validated copy of ``config`` with the schema's defaults filled in.

    Like ``snakemake.utils.validate`` (JSON Schema 2020-12, defaults set), but a bad
    config raises a one-line ``ConfigError`` naming the key instead of Snakemake's
    multi-line dump of the schema.
    """
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import best_match

    def set_defaults(validator: Any, properties: Any, instance: Any, schema_: Any) -> Any:
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                sub = _resolve(sub, schema)
                if "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from Draft202012Validator.VALIDATORS["properties"](
            validator, properties, instance, schema_
        )

    with_defaults = validators.extend(Draft202012Validator, {"properties": set_defaults})
    data = coerce_to_schema(copy.deepcopy(dict(config)), schema, schema)
    err = best_match(with_defaults(schema).iter_errors(data))
    if err is not None:
        raise ConfigError(_error_line(err, schema))
    return data


def check_config(cfg: Mapping[str, Any]) -> None:
    """Checks a JSON schema cannot express; one-line ConfigError naming the key."""
    from greenllm.load.workloads import parse_workload

    clocks = cfg["clocks"]
    if clocks["mode"] == "pin" and not any_setting(clocks):
        raise ConfigError("config key 'clocks.mhz': pin mode needs at least one clock "
                          "(or clocks.power_limit_w / clocks.memory_mhz)")
    model = cfg["model"]
    source = model.get("source", "builtin")
    if source == "builtin":
        from greenllm.load.shapes import SHAPES

        if model["name"] not in SHAPES:
            raise ConfigError(
                f"config key 'model.name': no built-in shape {model['name']!r} "
                f"(built in: {', '.join(SHAPES)}); use model.source hub or local"
            )
        if model.get("load_format") == "real":
            raise ConfigError(
                "config key 'model.load_format': a builtin model has no weights; "
                "use load_format dummy, or source hub/local for real weights"
            )
    if source == "hub" and not model.get("repo_id"):
        raise ConfigError("config key 'model.repo_id': source hub needs a repo id")
    if source == "local" and not model.get("path"):
        raise ConfigError("config key 'model.path': source local needs the model folder")
    if cfg.get("engine") == "virtual":
        from greenllm.sim.gpu_models import simulated_gpu

        try:
            simulated_gpu(str(cfg.get("gpu", "h100-sxm")))
        except ConfigError as err:
            raise ConfigError(f"config key 'gpu': {err}") from None
    studies = cfg["studies"]
    # With engine=virtual this is the number of simulated GPUs (TP above it: an error).
    gpus = cfg.get("gpus_available", 8)
    for name, spec in studies.items():
        for key in ("workloads", "workload"):
            ids = spec.get(key)
            for wid in [ids] if isinstance(ids, str) else ids or []:
                try:
                    parse_workload(wid)
                except ConfigError as err:
                    raise ConfigError(f"config key 'studies.{name}.{key}': {err}") from None
        tps = spec.get("tps", [spec.get("tp")])
        for tp in tps:
            if tp is not None and tp > gpus:
                key = "tps" if "tps" in spec else "tp"
                raise ConfigError(
                    f"config key 'studies.{name}.{key}': TP {tp} needs {tp} GPUs "
                    f"but gpus_available is {gpus}"
                )
