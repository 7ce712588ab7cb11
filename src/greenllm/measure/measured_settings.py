"""What a cell's measurements depend on, so that a rerun under other settings does not
resume them.

``greenllm measure`` resumes: a cell whose summary is in the output folder keeps its
finished repeats, and a rerun adds the rest (after an interruption, or when more repeats
are asked for). That is right only while the settings that define what a repeat measures
are the same. Change the load profile (window lengths, load points, rates, arrivals),
the search, the SLO, the engine or the energy attribution, and the old repeats measured
something else: resuming would report them, and mix them with new ones, as the new
settings' results. Snakemake reruns the job when its parameters change, but it is this
app that decides what to keep.

Every cell summary records ``measured_settings`` (the settings below and their digest;
two records differ where a key both have differs, so a key a newer greenllm adds does
not invalidate a campaign in progress).
A rerun whose settings differ measures the cell afresh: once the engine is up (a run that
cannot start moves nothing), the cell's folder moves aside, whole, to
``<out>/superseded/<time>/cells/...`` (nothing is deleted; ``greenllm aggregate`` skips
``superseded`` folders when it scans a directory), with one line naming the keys that
changed. Summaries written before this record fall back to the settings in
``instance.json`` (those of the last run that measured anything); with neither, the cell
is kept as before.

Not among the settings: how many repeats (``load.repeats``, ``max_repeats``,
``ci_targets``, ``stop_per``, ``engine_starts``), since adding repeats is what resuming is
for; and where or how patiently things run (ports, timeouts, the model's path, clock
settle times). Clocks and workload ids name the cell itself; a trace replay's settings
(``workload.trace``) count.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greenllm.measure.adaptive import RepeatPolicy

# group -> the keys that define what a repeat measures (None: every key of the group but
# those in NOT_MEASURED)
MEASURED: dict[str, tuple[str, ...] | None] = {
    "load": None,
    "search": None,
    "slo": None,
    "attribution": None,
    "instance": ("tp", "max_batch", "gpus"),
    "model": ("name", "load_format", "hf_repo", "shape"),
    "engine": ("kind", "enable_prefix_caching", "gpu_memory_utilization", "max_model_len",
               "max_num_batched_tokens", "extra_args", "env", "virtual"),
    "gpu": ("name",),
    "workload": ("trace",),  # a trace replay: its file, scaling, window and policy
}
NOT_MEASURED = {"load": ("repeats", "max_repeats", "ci_targets", "stop_per", "engine_starts",
                         "request_timeout_s", "trust_env")}
SUPERSEDED = "superseded"  # the folder cells measured under other settings move to


def measured_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a plain measure config that defines what a repeat measures."""
    out: dict[str, Any] = {}
    for group, keys in MEASURED.items():
        values = config.get(group)
        if not isinstance(values, Mapping):
            continue
        wanted = keys if keys is not None else [k for k in values
                                                if k not in NOT_MEASURED.get(group, ())]
        out[group] = {k: values[k] for k in sorted(wanted) if k in values}
    return out


def digest(settings: Mapping[str, Any]) -> str:
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def record(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a cell summary stores: ``{"digest": ..., "values": ...}``."""
    values = measured_settings(config)
    return {"digest": digest(values), "values": values}


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ. Only keys both sides have count: a key a newer
    greenllm added (with a default that keeps the old behaviour) must not make an
    upgrade measure a whole campaign again."""
    keys: list[str] = []
    for k in sorted(set(old) & set(new)):
        a, b = old[k], new[k]
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            keys += changed_keys(a, b, f"{prefix}{k}.")
        elif a != b:
            keys.append(f"{prefix}{k}")
    return keys


def own_record(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The settings a cell summary records it was measured under (None before the
    record existed)."""
    own = summary.get("measured_settings")
    if isinstance(own, Mapping) and isinstance(own.get("values"), Mapping):
        return dict(own["values"])
    return None


def instance_settings(out: Path) -> dict[str, Any] | None:
    """The measured settings of the last run that wrote ``instance.json`` in ``out``."""
    try:
        config = json.loads((out / "instance.json").read_text()).get("config")
    except (OSError, ValueError, AttributeError):
        return None
    return measured_settings(config) if isinstance(config, Mapping) else None


def recorded(summary: Mapping[str, Any], out: Path) -> dict[str, Any] | None:
    """The settings a cell summary in ``out`` was measured under (its own record, else
    ``instance.json``'s, read only then), None when neither says."""
    own = own_record(summary)
    return own if own is not None else instance_settings(out)


@dataclass(frozen=True)
class Planned:
    """What a workflow plan's instance will measure under (``settings``: a repeat's
    measured settings) and how many repeats its cells get (``policy``)."""

    settings: dict[str, Any]
    policy: RepeatPolicy


def planned(plan: Any, instance_id: str, root: str | Path,
            composed: Mapping[str, Any] | None = None) -> Planned | None:
    """What a workflow plan's instance will measure under: its ``greenllm measure``
    config composed as its job composes it (``composed``: the configs the validation pass,
    ``measure.preflight.plan_problems``, already composed); None when it does not compose
    (the validation pass reports that)."""
    from greenllm.errors import GreenllmError
    from greenllm.measure.adaptive import policy_from_cfg
    from greenllm.measure.compose import compose_instance, to_plain

    try:
        cfg = (composed or {}).get(instance_id) or compose_instance(plan, instance_id, root)
        return Planned(measured_settings(to_plain(cfg)), policy_from_cfg(cfg.load))
    except GreenllmError:
        return None


def stale(cell_dirs: Sequence[Path], summaries: Sequence[Mapping | None], out: Path,
          current: Mapping[str, Any]) -> dict[Path, list[str]]:
    """The cell folders whose summary was measured under other settings than
    ``current``, each with the keys that changed. Nothing is moved yet."""
    fallback = instance_settings(out)  # once, for summaries without their own record
    found: dict[Path, list[str]] = {}
    for cdir, summary in zip(cell_dirs, summaries, strict=True):
        if summary is None:
            continue
        old = own_record(summary)
        if old is None:
            old = fallback
        if old is not None and (changed := changed_keys(old, current)):
            found[cdir] = changed
    return found


def set_aside(found: Mapping[Path, Sequence[str]], out: Path,
              note: Callable[[str], None]) -> list[Path]:
    """Move each of ``found`` (``stale``) to ``out/superseded/<time>/``, whole, and say
    once which keys changed; the new paths. Called once the engine is up, so a run that
    cannot start moves nothing."""
    if not found:
        return []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved = []
    for cdir in found:
        dest = out / SUPERSEDED / stamp / cdir.relative_to(out)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(cdir), str(dest))
        moved.append(dest)
    keys = sorted({k for changed in found.values() for k in changed})
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    note(f"{len(moved)} cell(s) were measured under other settings ({shown}): moved to "
         f"{out / SUPERSEDED / stamp} (kept) and measured afresh")
    return moved
