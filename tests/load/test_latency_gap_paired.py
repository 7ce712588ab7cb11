"""benchmarks/latency_gap.py --paired: two arms at once, each in its own worker process.

Against the real simulated server (a subprocess): every round runs both arms at half the
rate each, over the same span of wall-clock time (what makes a paired round cancel the
engine's run-to-run variation), every request of both arms is answered, and the runs are
saved per round with their own arrival seeds. A --paired call with other than two arms
stops with one line before any worker starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simtest_helpers import SimServer, one_gpu_server

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "latency_gap.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with one_gpu_server(tmp_path_factory.mktemp("paired"), max_num_seqs=16) as pair:
        yield pair


def _bench(srv: SimServer, model: Path, out: Path, arms: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, str(BENCH), "run", "--base-url", srv.url, "--model", "m",
            "--tokenizer", str(model), "--workload", "S-S", "--rates", "8", "-n", "24",
            "--min-duration-s", "2", "--rounds", "2", "--arms", arms, "--paired",
            "--out", str(out)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


def test_paired_rounds_run_both_arms_over_the_same_time(server, tmp_path):
    srv, model = server
    done = _bench(srv, model, tmp_path / "gap", "text,text_plain")
    assert done.returncode == 0, done.stderr[-2000:]
    runs = [r for r in json.loads((tmp_path / "gap" / "runs.json").read_text())
            if r["kind"] == "gap"]
    assert sorted((r["round"], r["arm"]) for r in runs) == [
        (0, "text"), (0, "text_plain"), (1, "text"), (1, "text_plain")]
    for rnd in (0, 1):
        a, b = (r for r in runs if r["round"] == rnd)
        assert a["paired"] and b["paired"] and a["seed"] != b["seed"]
        for r in (a, b):
            assert r["n"] == 12 and r["rate"] == 8.0
            assert r["metrics"]["n_ok"] == 12 and r["metrics"]["n_failed"] == 0
        spans = [(r["metrics"]["wall_first_send_s"], r["metrics"]["wall_last_end_s"])
                 for r in (a, b)]
        overlap = min(s[1] for s in spans) - max(s[0] for s in spans)
        shorter = min(s[1] - s[0] for s in spans)
        assert overlap > 0.5 * shorter, spans  # run side by side, not one after the other


def test_paired_needs_exactly_two_arms(server, tmp_path):
    srv, model = server
    done = _bench(srv, model, tmp_path / "gap", "ids,text,text_plain")
    assert done.returncode != 0
    assert "--paired needs exactly two arms" in done.stderr
