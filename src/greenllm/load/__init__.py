"""Load generation: workloads, arrival processes, exact-length prompts, a streaming client,
per-request records and latency metrics."""

from greenllm.load.arrivals import PROCESSES, arrival_offsets_s
from greenllm.load.client import (
    RequestRecord,
    frame_to_records,
    make_session,
    records_to_frame,
    run_requests,
    run_requests_sync,
    run_sequential,
    run_sequential_sync,
    stderr_progress,
)
from greenllm.load.metrics import (
    LoadMetrics,
    compute_metrics,
    percentile_block,
    summarize,
    token_gaps_s,
)
from greenllm.load.model_folder import build_model_folder, build_tokenizer
from greenllm.load.prompts import prompt_token_ids
from greenllm.load.shapes import SHAPES
from greenllm.load.workloads import PAPER_WORKLOADS, Workload, parse_workload, workload_from

__all__ = [
    "PAPER_WORKLOADS", "PROCESSES", "SHAPES", "LoadMetrics", "RequestRecord", "Workload",
    "arrival_offsets_s", "build_model_folder", "build_tokenizer", "compute_metrics",
    "frame_to_records", "make_session", "parse_workload", "percentile_block",
    "prompt_token_ids", "records_to_frame", "run_requests", "run_requests_sync",
    "run_sequential", "run_sequential_sync", "stderr_progress", "summarize", "token_gaps_s",
    "workload_from",
]
