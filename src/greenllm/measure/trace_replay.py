"""One trace replay under a clock policy: the client sends the trace in a worker
thread while the calling thread feeds the policy the latencies seen so far and moves
the pinned clock when it asks (``change_pinned_clock``: verified, restored by the
``pin_clocks`` around it). ``greenllm.measure.trace_run`` stores the result as a cell.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from greenllm.errors import GreenllmError
from greenllm.gpu import Gpu, change_pinned_clock
from greenllm.load import Workload, records_to_frame, run_requests_sync
from greenllm.load.trace import Trace
from greenllm.measure.points import PointSettings
from greenllm.recommend.policies import FixedClock


def trace_workload(trace: Trace) -> Workload:
    """A workload id for the trace's cells; its lengths are the trace's medians."""
    return Workload(str(trace.name), int(np.median(trace.input_tokens)),
                    int(np.median(trace.output_tokens)))


def replay_window(frame: pd.DataFrame) -> tuple[float, float]:
    """The whole replay: first send to the last token (a trace is finite: all its work)."""
    sends = frame["send_s"].to_numpy(dtype=float)
    ends = frame["end_s"].to_numpy(dtype=float)
    sends, ends = sends[np.isfinite(sends)], ends[np.isfinite(ends)]
    if len(sends) < 2 or len(ends) == 0:
        return 0.0, 0.0
    return float(sends.min()), float(ends.max())


def replay(cfg: DictConfig, gpu: Gpu, settings: PointSettings, trace: Trace, policy: Any,
           plan: Any, mode: str, server: Any) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Send the trace (client in a worker thread) while this thread applies the policy.

    Returns the requests (record columns, then the trace fields and the clock each
    request was sent at) and the clock log: one entry per applied, verified change."""
    latencies: queue.SimpleQueue[tuple[float, float]] = queue.SimpleQueue()

    def on_record(rec: Any) -> None:
        if rec.ok and len(rec.token_times_s) >= 1:
            ttft = rec.first_token_s - rec.send_s
            n = len(rec.token_times_s)
            tbt = (rec.last_token_s - rec.first_token_s) / (n - 1) if n > 1 else float("nan")
            latencies.put((ttft, tbt))

    box: dict[str, Any] = {}

    def client() -> None:
        try:
            box["records"] = run_requests_sync(
                server.base_url, server.model, trace_workload(trace), trace.offsets_s,
                seed=settings.seed, timeout_s=settings.timeout_s,
                input_tokens=trace.input_tokens.tolist(),
                output_tokens=trace.output_tokens.tolist(), on_record=on_record,
                prompt_format=server.prompt_format,
                trust_env=server.trust_env)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            box["error"] = exc

    check_engine = server.check_alive
    check_engine()
    t0 = time.monotonic()
    current = plan.applied_mhz
    # What the policy asked for: the applied clock may be a snapped one (1000 -> 1005 MHz),
    # and comparing the request with it would "change" the clock at every period.
    requested = plan.requested_mhz
    log = [{"t_s": 0.0, "t_mono": t0, "mhz": current, "verified": plan.verified}]
    worker = threading.Thread(target=client, name="trace-client", daemon=True)
    worker.start()
    period = float(cfg.workload.trace.policy.period_s)
    try:
        while worker.is_alive():
            worker.join(period)
            if not worker.is_alive() or mode != "pin" or isinstance(policy, FixedClock):
                continue
            while not latencies.empty():
                policy.observe(*latencies.get())
            wanted = policy.decide(time.monotonic() - t0, requested)
            if wanted != requested:
                change = change_pinned_clock(gpu, plan, wanted)
                requested, current = wanted, change.applied_mhz
                if current == log[-1]["mhz"]:
                    continue  # another request that snaps to the same clock
                log.append({"t_s": time.monotonic() - t0, "t_mono": time.monotonic(),
                            "mhz": current, "verified": change.verified})
    except GreenllmError:
        # A clock change failed: let the requests in flight finish before the cell is
        # marked failed, so they cannot spill into the next treatment's measurement.
        worker.join()
        raise
    if "error" in box:
        raise box["error"]
    check_engine()
    frame = records_to_frame(box["records"])
    frame = pd.concat([frame, trace.frame_fields()], axis=1)
    changes = np.array([e["t_mono"] for e in log])
    clocks = np.array([e["mhz"] if e["mhz"] is not None else np.nan for e in log], dtype=float)
    idx = np.searchsorted(changes, frame["send_s"].to_numpy(dtype=float), "right") - 1
    frame["clock_at_send_mhz"] = clocks[np.clip(idx, 0, len(clocks) - 1)]
    return frame, log
