"""``greenllm measure``'s command line (Hydra overrides) for one planned instance."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from greenllm.plan.grid import Cell, Plan, clock_label
from greenllm.sweep_axes import KnobSetting

_PLAIN_RE = re.compile(r"[A-Za-z_/.][A-Za-z0-9_/.:+-]*")


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar (lists ``[a,b]``, dicts ``{k:v}``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN_RE.fullmatch(text) and text.lower() not in ("true", "false", "null"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _group_overrides(group: str, settings: Mapping[str, Any], skip: Iterable[str]) -> list[str]:
    """``group=<profile>`` then ``group.<key>=<value>`` for the preset's other keys."""
    out = []
    if settings.get("profile"):
        out.append(f"{group}={hydra_value(settings['profile'])}")
    skip = set(skip) | {"profile"}
    out += [f"{group}.{k}={hydra_value(v)}" for k, v in settings.items() if k not in skip]
    return out


def measure_overrides(plan: Plan, iid: str, cells: Iterable[Cell] | None = None) -> list[str]:
    """The Hydra overrides of ``greenllm measure`` for instance ``iid``, one per item
    (quote each for a shell). The measure command runs all of the instance's cells, or
    with ``cells`` the grid of their clocks and workloads (load points stay the
    instance's: a cell measured for one study serves the others too)."""
    cfg = plan.config
    inst = plan.instance(iid)
    mine = [c for c in cells or () if c.instance_id == iid]
    if mine:
        inst = dataclasses.replace(
            inst, clocks=tuple(k for k in inst.clocks if any(c.clock == k for c in mine)),
            workloads=tuple(w for w in inst.workloads if any(c.workload == w for c in mine)))
    model = cfg["model"]
    out = [
        f"out_dir={hydra_value(plan.raw_dir(iid))}",
        f"model={hydra_value(model['name'])}",
        f"model.path={hydra_value(plan.model_dir())}",
        f"model.load_format={model.get('load_format', 'dummy')}",
    ]
    if model.get("repo_id"):
        out.append(f"model.hf_repo={hydra_value(model['repo_id'])}")
    out += [
        f"engine={cfg['engine']}",
        f"gpu={hydra_value(cfg.get('gpu', 'h100-sxm'))}",
        f"clocks={cfg['clocks']['mode']}",
    ]
    if cfg["clocks"]["mode"] == "pin":
        cross = bool(cfg["clocks"].get("cross"))
        mhz = [m for m in cfg["clocks"]["mhz"] if cross or clock_label(m) in inst.clocks]
        out.append(f"clocks.mhz={hydra_value(mhz)}")
        # the other axes (greenllm.sweep_axes), kept to this instance's cells like mhz
        for key, label in (("power_limit_w", lambda w: KnobSetting(power_limit_w=w).label),
                           ("memory_mhz", lambda m: KnobSetting(memory_mhz=m).label)):
            values = [v for v in cfg["clocks"].get(key) or [] if cross or label(v) in inst.clocks]
            if values:
                out.append(f"clocks.{key}={hydra_value(values)}")
        if cross:
            out.append("clocks.cross=true")
    out.append(f"workload.ids={hydra_value(list(inst.workloads))}")
    out += _group_overrides("load", cfg["load"], skip=("points",))
    out.append(f"load.points={hydra_value(list(inst.loads))}")
    out += _group_overrides("slo", cfg.get("slo", {}), skip=())
    out += _group_overrides("search", cfg.get("search", {}), skip=())
    out += [f"instance.tp={inst.tp}", f"instance.max_batch={inst.max_batch}"]
    out += list(cfg.get("measure_overrides", []))
    return out
