"""The preflight's GPU checks: the GPUs an instance asks for (``instance.gpus`` or the
first ``instance.tp``) against the simulated node's size or, for vLLM on this host, the
GPUs NVML lists. One line per problem, like the rest of ``greenllm.measure.preflight``.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from greenllm.errors import GreenllmError

SIMULATED_KINDS = ("sim", "virtual")  # engines on a simulated node of gpu.sim_count GPUs


def instance_selectors(cfg: DictConfig) -> list[Any]:
    """The GPUs the instance asks for: ``instance.gpus``, or the first ``instance.tp``."""
    tp = int(cfg.instance.tp)
    return list(cfg.instance.gpus) if cfg.instance.gpus is not None else list(range(max(tp, 0)))


def sim_node_size(cfg: DictConfig) -> int:
    """GPUs of the simulated node: ``gpu.sim_count``, or just enough for the instance."""
    if cfg.gpu.sim_count is not None:
        return int(cfg.gpu.sim_count)
    ints = [s for s in instance_selectors(cfg) if isinstance(s, int) and not isinstance(s, bool)]
    return max([int(cfg.instance.tp), *(i + 1 for i in ints if i >= 0)], default=1)


def gpu_problems(cfg: DictConfig, host: bool) -> list[str]:
    tp = int(cfg.instance.tp)
    found: list[str] = []
    selectors = instance_selectors(cfg)
    if cfg.instance.gpus is not None:
        if len(selectors) != tp:
            found.append(f"instance.gpus lists {len(selectors)} GPU(s) but instance.tp={tp} "
                         "needs one per TP rank: list exactly tp GPUs")
        dupes = sorted({str(s) for s in selectors if selectors.count(s) > 1})
        if dupes:
            found.append(f"instance.gpus lists GPU {', '.join(dupes)} more than once")
    if cfg.engine.kind in SIMULATED_KINDS:
        count = sim_node_size(cfg)
        if not 1 <= count <= 64:
            if cfg.gpu.sim_count is not None:
                found.append(f"gpu.sim_count={count}: the simulated node has 1..64 GPUs")
            elif count > 64:
                found.append(f"the simulated node can have at most 64 GPUs; instance.tp="
                             f"{cfg.instance.tp} / instance.gpus ask for {count}")
            return found
        if cfg.instance.gpus is None and tp > count:
            found.append(f"instance.tp={tp} needs {tp} GPUs but the simulated node has {count} "
                         "(gpu.sim_count)")
        for sel in selectors if cfg.instance.gpus is not None else []:
            if isinstance(sel, bool) or not isinstance(sel, int) or not 0 <= sel < count:
                found.append(f"instance.gpus has {sel!r}, but the simulated node has GPUs "
                             f"0-{count - 1} (gpu.sim_count={count})")
    elif host and cfg.engine.kind == "vllm":
        found += _nvml_problems(selectors)
    return found


def _nvml_problems(selectors: list[Any]) -> list[str]:
    from greenllm.gpu.selection import resolve_gpus

    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as err:  # no driver, no library, no GPU: all mean "no GPU here"
        return [f"engine=vllm needs NVIDIA GPUs, but NVML is not available here "
                f"({' '.join(str(err).split()) or type(err).__name__}); use engine=sim"]
    try:
        count = pynvml.nvmlDeviceGetCount()
        uuids = []
        for i in range(count):
            uuid = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i))
            uuids.append(uuid.decode() if isinstance(uuid, bytes) else str(uuid))
        resolve_gpus(selectors, physical_uuids=uuids)
    except GreenllmError as err:
        return [f"instance.gpus: {err}"]
    except Exception as err:
        return [f"cannot list GPUs through NVML: {' '.join(str(err).split())}"]
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    return []
