"""Hand-made request records with known times, for metric and SLO tests."""

from __future__ import annotations

from greenllm.load.client import RequestRecord


def make_record(
    index: int,
    send_s: float,
    ttft_s: float,
    chunk_gaps_s: list[float],
    tokens_per_chunk: int = 1,
    *,
    scheduled_offset_s: float | None = None,
    ok: bool = True,
    tokens_out: int | None = None,
) -> RequestRecord:
    """A request sent at ``send_s`` whose first chunk came ``ttft_s`` later and later
    chunks after ``chunk_gaps_s``, each chunk carrying ``tokens_per_chunk`` tokens."""
    times: list[float] = []
    t = send_s + ttft_s
    times.extend([t] * tokens_per_chunk)
    for gap in chunk_gaps_s:
        t += gap
        times.extend([t] * tokens_per_chunk)
    rec = RequestRecord(
        request_id=f"r{index}", index=index, workload_id="X", input_tokens_requested=10,
        output_tokens_requested=len(times),
        scheduled_offset_s=send_s if scheduled_offset_s is None else scheduled_offset_s,
        scheduled_s=send_s, send_s=send_s, send_wall_s=1e9 + send_s, lateness_s=0.0,
    )
    if ok:
        rec.token_times_s = times
        rec.first_token_s, rec.last_token_s, rec.end_s = times[0], times[-1], times[-1] + 1e-4
        rec.n_chunks = len(chunk_gaps_s) + 1
        rec.tokens_in, rec.tokens_out = 10, len(times) if tokens_out is None else tokens_out
        rec.http_status, rec.ok, rec.token_count_source = 200, True, "words"
    else:
        rec.end_s = send_s + ttft_s
        rec.http_status, rec.error = 500, "HTTP 500: programmed failure"
    return rec
