"""One validation pass before anything starts: every problem at once, one line each.

``greenllm measure`` runs it before it writes a file, opens a GPU or starts an engine;
``greenllm measure --check`` runs only it; the Snakemake workflow runs it for every
instance when it builds the DAG (so ``snakemake -n`` shows the same lines). It checks the
same facts the engine will meet, not the built-in defaults:

* the config alone (``validate.static_problems``) and the workload ids;
* the model folder: its own ``config.json`` (context length vs the workloads, heads vs
  TP), a tokenizer for an engine that needs one, weights for ``load_format=real``; a
  folder greenllm would have to build must be one it may build (``greenllm.ownership``);
* the output folder: greenllm's own or new, and writable;
* the GPU list (`preflight_gpus`): ``instance.gpus`` vs ``instance.tp``, indices that exist on this node
  (the simulated node has ``gpu.sim_count`` GPUs);
* the engine: vLLM importable for ``engine=vllm``, a fixed ``engine.port`` free;
* ``--check`` also: no other run holds the output folder (``greenllm.locks``).

``host=False`` (the DAG, which may run on a login node while jobs run elsewhere) skips
what depends on the machine: real GPUs, vLLM, ports.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from greenllm.errors import ConfigError, GreenllmError
from greenllm.measure import engine_starts
from greenllm.measure.preflight_gpus import (
    gpu_problems,
)
from greenllm.measure.validate import static_problems, validate_parallelism

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
ENGINES_NEEDING_TOKENIZER = ("vllm",)
CONTEXT_MARGIN = 16  # tokens beyond the longest workload (measure.validate.max_model_len)


class PreflightError(ConfigError):
    """The validation pass found problems; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]):
        super().__init__(problems[0] if problems else "validation failed")
        self.problems = list(problems)


def model_folder(cfg: DictConfig) -> Path:
    from greenllm.measure.model_dir import default_model_dir

    return Path(cfg.model.path) if cfg.model.path else default_model_dir(cfg.model.name)


def problems(cfg: DictConfig, *, host: bool = True, model_built_later: bool = False) -> list[str]:
    """Every problem of ``cfg``, one line each (empty: go).

    ``model_built_later``: the folder is made by an earlier step (the DAG's download
    rule), so a missing folder is not a problem yet.
    """
    found = _range_problems(cfg)
    gpu_range_ok = cfg.gpu.min_sm_clock_mhz <= cfg.gpu.max_sm_clock_mhz
    # With the GPU's own range inverted, every clock would be "outside" it: say it once.
    found += [p for p in static_problems(cfg)
              if gpu_range_ok or not p.startswith("clocks.mhz has")]
    workloads, found_wl = _workloads(cfg)
    found += found_wl
    found += _model_problems(cfg, workloads, model_built_later)
    found += _output_problems(cfg) if str(cfg.out_dir).strip() else []
    found += gpu_problems(cfg, host)
    if host:
        found += _engine_problems(cfg)
    return list(dict.fromkeys(found))  # one line per problem, in order


def require(cfg: DictConfig, *, host: bool = True, locks: bool = False) -> None:
    found = problems(cfg, host=host) + (lock_problems(cfg) if locks else [])
    if found:
        raise PreflightError(found)


# Numeric keys and the values they accept: (key, lower bound, lower inclusive, upper
# bound, upper inclusive); None means unbounded. The typed schema already guarantees the
# type; these are what the engine, the client and the search need to make sense.
RANGES: tuple[tuple[str, float | None, bool, float | None, bool], ...] = (
    ("engine.port", 1, True, 65535, True),
    ("engine.startup_timeout_s", 0, False, None, False),
    ("engine.stop_grace_s", 0, True, None, False),
    ("engine.gpu_memory_utilization", 0, False, 1, True),
    ("engine.max_num_batched_tokens", 1, True, None, False),
    ("gpu.min_sm_clock_mhz", 1, True, None, False),
    ("gpu.max_sm_clock_mhz", 1, True, None, False),
    ("gpu.power_limit_w", 0, False, None, False),
    ("gpu.sim_settle_s", 0, True, None, False),
    ("clocks.settle_timeout_s", 0, False, None, False),
    ("load.repeats", 1, True, None, False),
    ("load.cv", 0, False, None, False),
    ("load.requests_per_point", 1, True, None, False),
    ("load.min_duration_s", 0, False, None, False),
    ("load.max_duration_s", 0, False, None, False),
    ("load.ramp_fraction", 0, True, 1, False),
    ("load.warmup_requests", 0, True, None, False),
    ("load.request_timeout_s", 0, False, None, False),
    ("slo.baseline_requests", 1, True, None, False),
    ("search.start_rps", 0, False, None, False),
    ("search.min_rps", 0, False, None, False),
    ("search.max_rps", 0, False, None, False),
    ("search.max_probes", 1, True, None, False),
    ("search.rel_tol", 0, False, 1, False),
    ("search.requests_per_probe", 1, True, None, False),
    ("search.probe_min_duration_s", 0, False, None, False),
    ("search.probe_max_duration_s", 0, False, None, False),
    ("search.time_budget_s", 0, False, None, False),
    ("search.confirm_repeats", 0, True, None, False),
    ("search.boundary_margin", 0, True, 1, False),
)


def _select(cfg: Any, dotted: str) -> Any:
    """``cfg.a.b`` for ``"a.b"``, on a DictConfig or the typed settings alike (None if absent)."""
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def _plain(node: Any) -> dict[str, Any]:
    """A config node as a plain dict: a DictConfig or a typed dataclass alike."""
    if dataclasses.is_dataclass(node):
        return dataclasses.asdict(node)
    return OmegaConf.to_container(node, resolve=True)


def _range_problems(cfg: DictConfig) -> list[str]:
    found = []
    for key, lo, lo_in, hi, hi_in in RANGES:
        value = _select(cfg, key)
        if value is None:
            continue  # optional keys (None: chosen automatically)
        ok = (lo is None or (value >= lo if lo_in else value > lo)) and \
             (hi is None or (value <= hi if hi_in else value < hi))
        if not ok:
            low = "" if lo is None else f"{'[' if lo_in else '('}{lo}"
            high = "" if hi is None else f"{hi}{']' if hi_in else ')'}"
            want = f"in {low}, {high}" if low and high else (
                f"{'>=' if lo_in else '>'} {lo}" if low else f"{'<=' if hi_in else '<'} {hi}")
            found.append(f"{key}={value}: must be {want}")
    pairs = (("load.min_duration_s", "load.max_duration_s"), ("search.min_rps", "search.max_rps"),
             ("search.probe_min_duration_s", "search.probe_max_duration_s"),
             ("gpu.min_sm_clock_mhz", "gpu.max_sm_clock_mhz"))
    for low_key, high_key in pairs:
        low, high = _select(cfg, low_key), _select(cfg, high_key)
        if low is not None and high is not None and low > high:
            found.append(f"{low_key}={low} is above {high_key}={high}")
    starts, repeats = _select(cfg, "load.engine_starts"), _select(cfg, "load.repeats")
    cap = repeats if repeats is not None else _select(cfg, "load.max_repeats")
    if starts is not None:  # against the repeats it spreads over, where those are valid
        found += engine_starts.problems(starts, cap if isinstance(cap, int) and cap >= 1
                                        else None)
    if not str(cfg.out_dir).strip():
        found.append("out_dir is empty: name the folder results go to (out_dir=results/raw/x)")
    if not str(cfg.model.name).strip() or "/" in str(cfg.model.name):
        found.append(f"model.name={cfg.model.name!r}: must be a short id without '/' "
                     "(it names instance ids and folders)")
    return found


def _workloads(cfg: DictConfig) -> tuple[list[Any], list[str]]:
    from greenllm.load import workload_from

    out, found = [], []
    for wid in cfg.workload.ids:
        try:
            out.append(workload_from(wid))
        except GreenllmError as err:
            found.append(f"workload.ids: {err}")
    if not list(cfg.workload.ids):
        found.append("workload.ids is empty: list at least one workload (e.g. workload=smoke)")
    return out, found


def needed_context(cfg: DictConfig, workloads: list[Any]) -> int | None:
    if not workloads:
        return None
    need = max(w.input_tokens + w.output_tokens for w in workloads) + CONTEXT_MARGIN
    return max(need, int(cfg.engine.max_model_len or 0))


def _model_problems(cfg: DictConfig, workloads: list[Any], built_later: bool) -> list[str]:
    from greenllm.ownership import OwnershipError, check_model_folder_replaceable

    path = model_folder(cfg)
    key = "model.path" if cfg.model.path else "model folder"
    found: list[str] = []
    need = needed_context(cfg, workloads)
    if cfg.engine.max_model_len and need and int(cfg.engine.max_model_len) < need:
        found.append(f"engine.max_model_len={cfg.engine.max_model_len} is shorter than the "
                     f"longest workload ({need})")
    config_file = path / "config.json"
    if not config_file.is_file():
        if cfg.model.load_format == "real":
            if not built_later:
                found.append(f"{key} {path} has no config.json: download it first (snakemake "
                             f"results/models/{cfg.model.name}, or set model.path=...)")
            return found
        try:
            check_model_folder_replaceable(path, key)
        except OwnershipError as err:
            found.append(str(err))
        # greenllm builds the folder from the built-in shape: it must make sense, and
        # its context applies.
        from greenllm.load.model_folder import _validate_shape

        try:
            _validate_shape(_plain(cfg.model.shape), cfg.model.name)
        except GreenllmError as err:
            found.append(f"model.shape: {err}")
        limit = int(cfg.model.shape.max_position_embeddings)
        if need and need > limit:
            found.append(f"workloads need {need} tokens of context but model {cfg.model.name} "
                         f"has max_position_embeddings={limit}")
        return found
    try:
        folder_cfg = json.loads(config_file.read_text())
        if not isinstance(folder_cfg, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as err:
        return [*found, f"{config_file} does not parse as a model config ({err}): fix or "
                "replace the folder"]
    limit = folder_cfg.get("max_position_embeddings")
    if isinstance(limit, int) and need and need > limit:
        found.append(f"workloads need {need} tokens of context but {config_file} has "
                     f"max_position_embeddings={limit}: use shorter workloads or another model")
    heads, kv = folder_cfg.get("num_attention_heads"), folder_cfg.get("num_key_value_heads")
    if isinstance(heads, int) and heads != int(cfg.model.shape.num_attention_heads):
        try:
            validate_parallelism(OmegaConf.create({"num_attention_heads": heads,
                                             "num_key_value_heads": kv or heads}),
                                 int(cfg.instance.tp))
        except ConfigError as err:
            found.append(f"{err} (from {config_file})")
    files = {p.name for p in path.iterdir()}
    if cfg.engine.kind in ENGINES_NEEDING_TOKENIZER and not files & set(TOKENIZER_FILES):
        found.append(f"{key} {path} has no tokenizer ({' or '.join(TOKENIZER_FILES)}), which "
                     f"engine={cfg.engine.kind} needs: add one or rebuild the folder")
    if cfg.model.load_format == "real" and not any(
            n.endswith((".safetensors", ".bin")) for n in files):
        found.append(f"{key} {path} has no weights (*.safetensors/*.bin) for "
                     "model.load_format=real: download them or use load_format=dummy")
    return found


def _output_problems(cfg: DictConfig) -> list[str]:
    from greenllm.ownership import OwnershipError, check_results_folder

    out = Path(cfg.out_dir)
    try:
        check_results_folder(out)
    except OwnershipError as err:
        return [str(err)]
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [f"out_dir {out} cannot be created: {existing} is a file"]
    if not os.access(existing, os.W_OK | os.X_OK) or _read_only_mount(existing):
        return [f"out_dir {out} is not writable ({existing} is read-only or not yours): "
                "choose another out_dir"]
    return []


def _read_only_mount(path: Path) -> bool:
    # os.access ignores a read-only mount for root; statvfs does not.
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def lock_problems(cfg: DictConfig) -> list[str]:
    """``--check`` only: a run takes the lock itself and says who holds it (exit 5)."""
    from greenllm.locks import RESULTS_LOCK, held_by_other

    holder = held_by_other(Path(cfg.out_dir) / RESULTS_LOCK)
    if holder:
        return [f"out_dir {cfg.out_dir} is in use by another greenllm run: {holder}; wait for "
                "it to finish or stop it"]
    return []


def _engine_problems(cfg: DictConfig) -> list[str]:
    found: list[str] = []
    if cfg.engine.kind == "vllm":
        import importlib.util

        from greenllm.engine.vllm import vllm_version

        if vllm_version() is None or importlib.util.find_spec("vllm") is None:
            found.append("engine=vllm: vLLM is not installed in this environment: pip install "
                         "'greenllm[vllm]' on a GPU machine, or use engine=sim")
    import socket

    try:
        socket.getaddrinfo(cfg.engine.host, None)
    except OSError as err:
        found.append(f"engine.host={cfg.engine.host!r} does not resolve ({err.strerror or err}): "
                     "use an address of this machine, e.g. 127.0.0.1")
    if cfg.engine.port is not None and 1 <= int(cfg.engine.port) <= 65535:
        from greenllm.engine.ports import ensure_port_free

        try:
            ensure_port_free(cfg.engine.host, int(cfg.engine.port))
        except (GreenllmError, OSError) as err:
            found.append(f"engine.port: {err}")
    return found


def plan_problems(plan: Any, root: str | os.PathLike[str],
                  composed: MutableMapping[str, Any] | None = None) -> list[str]:
    """The validation pass for every instance of a workflow plan (``snakemake -n``).

    Each instance's ``greenllm measure`` config is composed exactly as its job will
    compose it, and checked without the host checks (jobs may run on other nodes) and
    with the model folder still to be built by the download rule. ``composed`` receives
    each config that composes (instance id -> config), so that the workflow's later
    questions about an instance (``measured_settings.planned``) need not compose it again.
    """
    from greenllm.measure.compose import compose_instance

    found: list[str] = []
    for inst in plan.instances:
        try:
            cfg = compose_instance(plan, inst.id, root)
        except GreenllmError as err:
            found.append(f"instance {inst.id}: {err}")
            continue
        if composed is not None:
            composed[inst.id] = cfg
        found += [f"instance {inst.id}: {p}"
                  for p in problems(cfg, host=False, model_built_later=True)]
    return found
