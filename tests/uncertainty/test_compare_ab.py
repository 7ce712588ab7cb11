"""The interleaved A/B helper on callables of known distributions, vLLM's result format,
the command-line tool, and greenllm's metrics under vLLM's ITL definition."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenllm.analysis.compare import (
    compare_values,
    greenllm_metrics_from_frame,
    itl_per_chunk_s,
    parse_vllm_bench_result,
    vllm_bench_argv,
)
from greenllm.compare.runner import command_runner, run_ab
from greenllm.errors import ConfigError, GreenllmError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "load"))


def lognormal_runner(median: float, sigma: float, seed: int, calls: list[str], tag: str):
    rng = np.random.default_rng(seed)

    def run() -> dict[str, object]:
        calls.append(tag)
        return {"ttft_p50_ms": median * float(np.exp(rng.normal(0, sigma))),
                "itl_p50_ms": 2.0 * float(np.exp(rng.normal(0, sigma))),
                "label": "not a metric", "only_" + tag: 1.0}

    return run


def test_runs_interleave_and_keep_every_round():
    calls: list[str] = []
    report = run_ab(lognormal_runner(40, 0.01, 1, calls, "a"),
                    lognormal_runner(40, 0.01, 2, calls, "b"), 4)
    assert calls == ["a", "b"] * 4 and report.sequence == ["A", "B"] * 4
    assert set(report.metrics) == {"ttft_p50_ms", "itl_p50_ms"}  # common numeric keys only
    assert len(report.metrics["ttft_p50_ms"].a) == 4
    calls.clear()
    swapped = run_ab(lognormal_runner(40, 0.01, 1, calls, "a"),
                     lognormal_runner(40, 0.01, 2, calls, "b"), 4, order="ABBA")
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"] and swapped.rounds == 4


def test_same_distribution_is_the_same_and_a_real_gap_is_found():
    calls: list[str] = []
    same = run_ab(lognormal_runner(40, 0.02, 3, calls, "a"),
                  lognormal_runner(40, 0.02, 4, calls, "b"), 7)
    m = same.metrics["ttft_p50_ms"]
    assert m.within_tolerance and not m.gap_exceeds_spread and m.verdict() == "same"
    assert m.ratio_ci[0] <= 1.0 <= m.ratio_ci[1]
    assert same.all_within_tolerance()

    slower = run_ab(lognormal_runner(40, 0.02, 3, calls, "a"),
                    lognormal_runner(48, 0.02, 4, calls, "b"), 7)
    m = slower.metrics["ttft_p50_ms"]
    assert m.ratio == pytest.approx(1.2, rel=0.03) and m.ratio_ci[0] <= 1.2 <= m.ratio_ci[1]
    assert m.gap_exceeds_spread and not m.within_tolerance and m.verdict() == "differs"
    assert not slower.all_within_tolerance() and slower.all_within_tolerance(["itl_p50_ms"])


def test_a_gap_inside_a_wide_spread_is_not_called_a_difference():
    # B is 10 % slower but each side varies ±30 %: outside the tolerance, inside the spread.
    m = compare_values("x", [70, 100, 130, 85, 115], [77, 110, 143, 93.5, 126.5])
    assert not m.within_tolerance and not m.gap_exceeds_spread
    assert m.verdict() == "differs (within spread)"
    assert m.range_a == (70, 130) and m.iqr_a == pytest.approx(30)


def test_bad_arguments_and_bad_runs_are_one_line_errors():
    with pytest.raises(ConfigError, match="rounds"):
        run_ab(dict, dict, 0)
    with pytest.raises(ConfigError, match="order"):
        run_ab(dict, dict, 2, order="AABB")
    with pytest.raises(GreenllmError, match="not a dict"):
        run_ab(lambda: [1.0], dict, 1)
    with pytest.raises(GreenllmError, match="no metric in common"):
        run_ab(lambda: {"x": 1.0}, lambda: {"y": 1.0}, 1)


# A result as `vllm bench serve --save-result --percentile-metrics ttft,tpot,itl,e2el
# --metric-percentiles 50,90,99` writes it (keys from vllm/benchmarks/serve.py).
VLLM_RESULT = {
    "date": "20261125-101500", "backend": "vllm", "model_id": "llama-1b", "num_prompts": 200,
    "request_rate": 8.0, "burstiness": 1.0, "max_concurrency": None,
    "duration": 25.31, "completed": 200, "failed": 0, "total_input_tokens": 100000,
    "total_output_tokens": 25600, "request_throughput": 7.902, "request_goodput": None,
    "output_throughput": 1011.4, "total_token_throughput": 4962.4,
    "mean_ttft_ms": 38.2, "median_ttft_ms": 35.4, "std_ttft_ms": 9.1, "p50_ttft_ms": 35.4,
    "p90_ttft_ms": 49.0, "p99_ttft_ms": 77.7,
    "mean_tpot_ms": 3.05, "median_tpot_ms": 2.94, "std_tpot_ms": 0.4, "p50_tpot_ms": 2.94,
    "p90_tpot_ms": 3.6, "p99_tpot_ms": 5.4,
    "mean_itl_ms": 3.0, "median_itl_ms": 2.5, "std_itl_ms": 1.2, "p50_itl_ms": 2.5,
    "p90_itl_ms": 4.1, "p99_itl_ms": 9.8,
    "mean_e2el_ms": 420.0, "median_e2el_ms": 410.0, "std_e2el_ms": 30.0, "p50_e2el_ms": 410.0,
    "p90_e2el_ms": 455.0, "p99_e2el_ms": 520.0,
    "input_lens": [500] * 3, "output_lens": [128] * 3, "ttfts": [0.03, 0.04, 0.05],
    "itls": [[0.002, 0.003]], "generated_texts": ["t1 t2"], "errors": ["", "", ""],
}


def test_vllm_bench_result_parses_to_greenllm_names(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(VLLM_RESULT))
    metrics = parse_vllm_bench_result(path)
    assert metrics["ttft_p50_ms"] == 35.4 and metrics["ttft_p99_ms"] == 77.7
    assert metrics["tpot_p50_ms"] == 2.94 and metrics["itl_p50_ms"] == 2.5
    assert metrics["itl_p99_ms"] == 9.8 and metrics["e2e_p90_ms"] == 455.0
    assert metrics["ttft_mean_ms"] == 38.2 and metrics["ttft_std_ms"] == 9.1
    assert metrics["throughput_rps"] == 7.902 and metrics["output_tok_s"] == 1011.4
    assert metrics["n_ok"] == 200 and metrics["duration_s"] == 25.31
    assert not any(k in metrics for k in ("ttfts", "itls", "num_prompts", "request_rate"))
    with pytest.raises(GreenllmError, match="median_ttft_ms"):
        parse_vllm_bench_result({"duration": 1.0})
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(GreenllmError, match="not valid JSON"):
        parse_vllm_bench_result(tmp_path / "bad.json")


def test_vllm_bench_argv_sends_the_same_load():
    argv = vllm_bench_argv(base_url="http://127.0.0.1:8000/", model="m", input_tokens=500,
                           output_tokens=128, rate_rps=8, n_requests=200, seed=3,
                           result_dir="/tmp/r", result_filename="f.json", tokenizer="/tok")
    joined = " ".join(argv)
    assert argv[:3] == ["vllm", "bench", "serve"]
    for flag in ("--random-input-len 500", "--random-output-len 128", "--random-range-ratio 0",
                 "--num-prompts 200", "--request-rate 8", "--seed 3", "--ignore-eos",
                 "--save-result", "--result-dir /tmp/r", "--result-filename f.json",
                 "--base-url http://127.0.0.1:8000", "--tokenizer /tok", "--burstiness 1.0",
                 "--percentile-metrics ttft,tpot,itl,e2el", "--metric-percentiles 50,90,99"):
        assert flag in joined, flag


def _frame(requests: list[tuple[list[float], str]]) -> pd.DataFrame:
    rows = []
    for i, (times, source) in enumerate(requests):
        rows.append({"ok": True, "send_s": 0.0, "first_token_s": times[0],
                     "last_token_s": times[-1], "end_s": times[-1] + 0.001,
                     "token_times_s": times, "tokens_out": len(times), "error": "",
                     "token_count_source": source, "scheduled_offset_s": float(i),
                     "lateness_s": 0.0})
    return pd.DataFrame(rows)


def test_itl_per_chunk_follows_vllm_and_tbt_spreads_chunks():
    # Token-counted: tokens 2-3 came in one chunk 20 ms after token 1 (one ITL gap of
    # 20 ms; TBT spreads it as 10 + 10). Chunk-counted: two chunks read together at 0.03
    # give vLLM's (10 ms, 0 ms) pattern.
    frame = _frame([([0.01, 0.03, 0.03, 0.04], "token_ids"), ([0.01, 0.02, 0.03, 0.03], "chunks")])
    np.testing.assert_allclose(itl_per_chunk_s(frame), [0.02, 0.01, 0.01, 0.01, 0.0], atol=1e-12)
    chunk = greenllm_metrics_from_frame(frame, itl="chunk")
    spread = greenllm_metrics_from_frame(frame, itl="spread")
    assert chunk["itl_mean_ms"] == pytest.approx(10.0)
    assert spread["itl_mean_ms"] != pytest.approx(chunk["itl_mean_ms"])
    assert chunk["ttft_p50_ms"] == pytest.approx(10.0) and chunk["n_ok"] == 2
    with pytest.raises(ConfigError):
        greenllm_metrics_from_frame(frame, itl="tokens")


def test_greenllm_adapter_against_a_real_server():
    from sse_test_server import Behavior, ServerThread, SseServer

    from greenllm.compare.adapters import greenllm_client_metrics

    wl = {"id": "tiny", "input_tokens": 8, "output_tokens": 9}
    # Two tokens per chunk every 10 ms: vLLM's ITL sees 10 ms gaps, greenllm's TBT 5 ms.
    thread = ServerThread(SseServer(Behavior(ttft_s=0.01, tbt_s=0.01, tokens_per_chunk=2,
                                             include_token_ids=True))).start()
    try:
        chunk = greenllm_client_metrics(thread.url, "m", wl, 50.0, 10, 1, itl="chunk")
        by_ids = greenllm_client_metrics(thread.url, "m", wl, 50.0, 10, 2, itl="chunk",
                                         tokens_per_chunk="auto")
        spread = greenllm_client_metrics(thread.url, "m", wl, 50.0, 10, 1, itl="spread")
    finally:
        thread.stop()
    assert chunk["n_ok"] == 10 and chunk["n_failed"] == 0
    # Counting one token per chunk (vLLM's view) or by token ids: the same per-chunk ITL.
    assert 9.0 <= chunk["itl_p50_ms"] <= 14.0 and 9.0 <= by_ids["itl_p50_ms"] <= 14.0
    assert 4.5 <= spread["itl_p50_ms"] <= 7.0
    assert chunk["ttft_p50_ms"] >= 10.0 and "tpot_p50_ms" in chunk


def test_command_line_passes_and_fails_on_the_tolerance(tmp_path):
    script = ROOT / "benchmarks" / "compare_ab.py"

    def cmd(median: float, seed_base: int) -> str:
        # {round} varies the noise per round, as a real command would vary its seed.
        code = (f"import json,random; random.seed({seed_base} + {{round}}); "
                f"print('log line'); print(json.dumps({{'ttft_p50_ms': {median} * "
                f"(1 + 0.01 * random.random())}}))")
        return f"{sys.executable} -c \"{code}\""

    report = tmp_path / "r.json"
    same = subprocess.run([sys.executable, str(script), "--a", cmd(40, 0), "--b", cmd(40, 100),
                           "--rounds", "5", "--json", str(report)],
                          capture_output=True, text=True, timeout=60)
    assert same.returncode == 0, same.stderr
    assert "PASS" in same.stdout and "ttft_p50_ms" in same.stdout
    saved = json.loads(report.read_text())
    a_values = saved["metrics"]["ttft_p50_ms"]["a"]
    assert len(a_values) == 5 and len(set(a_values)) == 5  # {round} took effect
    runs = json.loads(report.with_suffix(".runs.json").read_text())  # saved as they ended
    assert [r["side"] for r in runs] == ["A", "B"] * 5
    assert [r["metrics"]["ttft_p50_ms"] for r in runs if r["side"] == "A"] == a_values
    differ = subprocess.run([sys.executable, str(script), "--a", cmd(40, 0), "--b", cmd(50, 0),
                             "--rounds", "3"], capture_output=True, text=True, timeout=60)
    assert differ.returncode == 1 and "FAIL" in differ.stdout and "differs" in differ.stdout
    broken = subprocess.run([sys.executable, str(script), "--a", "exit 3", "--b", cmd(40, 0),
                             "--rounds", "1"], capture_output=True, text=True, timeout=60)
    assert broken.returncode == 2 and "command exited 3" in broken.stderr


def test_command_runner_reads_the_last_line_only():
    run = command_runner(f"{sys.executable} -c \"print('{{}}'); print('{{\\\"x\\\": {{round}}}}')\"")
    assert run() == {"x": 0} and run() == {"x": 1}
    with pytest.raises(GreenllmError, match="not JSON"):
        command_runner("echo hello")()


def test_a_deadline_ends_after_whole_rounds_and_every_run_is_seen():
    now = [0.0]
    seen: list[tuple[str, int]] = []

    def timed(value: float):
        def run() -> dict[str, float]:
            now[0] += 10.0  # each run takes 10 s of the fake clock
            return {"x": value}
        return run

    report = run_ab(timed(1.0), timed(1.0), 10, deadline_s=35.0, clock=lambda: now[0],
                    on_run=lambda side, k, m: seen.append((side, k)))
    # Rounds start at t=0, 20 and 40 s; the one due at 40 s is past the 35 s deadline.
    assert report.rounds == 2 and report.sequence == ["A", "B"] * 2
    assert seen == [("A", 0), ("B", 0), ("A", 1), ("B", 1)]
    assert len(report.metrics["x"].a) == 2
    # One round always runs, however short the deadline.
    now[0] = 0.0
    assert run_ab(timed(1.0), timed(1.0), 3, deadline_s=1e-9, clock=lambda: now[0]).rounds == 1
    with pytest.raises(ConfigError, match="deadline"):
        run_ab(timed(1.0), timed(1.0), 3, deadline_s=0)


def test_telemetry_around_a_run_reports_its_energy_and_cost(tmp_path):
    import time

    from greenllm.compare.adapters import with_telemetry
    from greenllm.gpu.factory import open_gpus

    gpu = open_gpus("sim", [0], tmp_path / "sim.state", sim_count=1)
    try:
        def busy() -> dict[str, float]:
            gpu.set_load(0, compute=1.0, memory=0.5)  # a busy card, as under an engine
            time.sleep(0.6)
            return {"throughput_rps": 1.0}

        out = with_telemetry(busy, gpu, period_s=0.02)
    finally:
        gpu.close()
    assert out["throughput_rps"] == 1.0  # the run's own metrics pass through
    assert out["sampler_ticks"] >= 15 and 15.0 <= out["sampler_period_ms"] <= 60.0
    # The simulated card draws at least its idle power for the 0.6 s run.
    assert out["energy_j"] > 0.6 * 30.0 and abs(out["energy_disagreement"]) < 0.05
    assert out["power_mean_w"] == pytest.approx(out["energy_j"] / 0.6, rel=0.2)


def test_pooled_rounds_pair_within_each_round_and_skip_unpaired(tmp_path):
    from greenllm.analysis.compare import paired_ratios

    # Server 1 is twice as slow as server 2; B is 10 % above A on both. Medians of all
    # A vs all B would mix the servers; per-round pairs see only the 10 %.
    def log(scale: float, rounds: int, cut: bool = False) -> list[dict]:
        out = []
        for k in range(rounds):
            out.append({"side": "A", "round": k, "metrics": {"ttft_p50_ms": scale * (10 + k)}})
            if not (cut and k == rounds - 1):
                out.append({"side": "B", "round": k,
                            "metrics": {"ttft_p50_ms": 1.1 * scale * (10 + k)}})
        return out

    ratios = paired_ratios([log(2.0, 3), log(1.0, 4, cut=True)])
    assert len(ratios["ttft_p50_ms"]) == 6  # the last round of the cut log has no B
    assert all(r == pytest.approx(1.1) for r in ratios["ttft_p50_ms"])
    files = []
    for i, entries in enumerate((log(2.0, 3), log(1.0, 3))):
        files.append(tmp_path / f"r{i}.runs.json")
        files[-1].write_text(json.dumps(entries))
    script = ROOT / "benchmarks" / "compare_ab.py"
    done = subprocess.run([sys.executable, str(script), "pool", *map(str, files),
                           "--metrics", "ttft_p50_ms"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "1.100" in done.stdout  # 10 % > 5 %: not within
    ok = subprocess.run([sys.executable, str(script), "pool", *map(str, files), "--metrics",
                         "ttft_p50_ms", "--tolerance", "0.15"], capture_output=True, text=True,
                        timeout=60)
    assert ok.returncode == 0 and "yes" in ok.stdout
