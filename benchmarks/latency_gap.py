"""Why greenllm's client and ``vllm bench serve`` disagree on latency: arms A/B'd on one server.

Each *arm* sends the same load (workload, rate, count, Poisson arrivals drawn as vLLM
draws them) to one running vLLM server; arms run in interleaved rounds (the order turns
every round, so drift falls on all arms alike). Arms:

* ``ids``        greenllm's client, prompts as token ids (greenllm's default before 2026-12-04)
* ``text``       greenllm's client, the same tokens as text (the server tokenizes them);
                 its session honours proxies and ``~/.netrc`` (``trust_env``, the default
                 since 2026-12-06), as ``vllm bench serve``'s does
* ``text_lean``  as ``text`` with ``trust_env=False``: no per-request proxy/netrc lookups
                 in worker threads after the clock starts (the default before 2026-12-06)
* ``text_plain`` as ``text``, without greenllm's extra request fields (``return_token_ids``,
                 ``min_tokens``): the exact body ``vllm bench serve`` sends
* ``vllm``       ``vllm bench serve`` itself (random dataset, text prompts), run
                 in-process so its import does not cost every round a minute

Around every run the server's ``/metrics`` is read, so each run also carries the engine's
own mean TTFT/ITL/TPOT over the same requests (``greenllm.analysis.latency_gap``): the
client's TTFT minus the engine's is the time spent outside the engine (HTTP, API server,
tokenization, client).

    python benchmarks/latency_gap.py run --base-url URL --model NAME --tokenizer DIR \\
        --workload M-M --rates 7.9,auto70 -n 120 --rounds 5 --out DIR [--deadline-s 480]
    python benchmarks/latency_gap.py report DIR/runs*.json [--reference vllm] [--md F]

Every run also keeps its requests' TTFT, TPOT and E2E (``requests``), and ``report``
adds a second table: each side's p50 and p99 over all rounds' requests pooled, with an
interval that resamples whole rounds (``greenllm.analysis.pooled_quantiles``): a view
of the whole distributions. The bar stays on the first table: on an H100 the pooled p99
intervals were wider than the paired rounds' (docs/load.md, 2026-12-07).

A run too long for one call continues in the next on the same server with
``--first-round K`` (rounds K, K+1, ...; seeds follow the round), and ``report`` takes
both runs files; it refuses two files that hold the same round.

``auto70`` is 70 % of the highest rate the server sustains, measured first
(``measure_capacity``: a burst of --capacity-n requests for its throughput, then a ladder
of falling fractions of it until a run shows no growing queue; text prompts). A burst's
own throughput overstates capacity: 70 % of it overloaded the H200 (docs/load.md).
With ``--paired`` the ladder itself runs paired rounds (a rate counts when every
greenllm arm's half kept up): one client's sustained rate overloaded the engine once two
client processes shared the host (H200, 2026-12-06).
Every run is saved as it ends (``DIR/runs.json``).

``--paired`` (exactly two arms) runs both arms *at the same time* in every round, each
in its own worker process (imported once) sending half the requests at half the rate,
so the server sees the full rate and both arms meet the same engine state. Sequential
rounds compare runs that the engine's own run-to-run variation separates (on the H200
it moved TPOT ±10 % between 16-s runs, docs/load.md); paired rounds cancel it, leaving
what differs between the clients. Each arm's metrics also carry its first-send and
last-response wall times (``wall_first_send_s``, ``wall_last_end_s``), so the overlap
is on record. The engine's own histograms would mix both arms: no server view there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from latency_gap_arms import (  # the script's folder is on sys.path
    ARMS,
    GREENLLM_ARMS,
    ROOT,  # noqa: F401  (its import puts ROOT/src on sys.path)
    Arm,
    greenllm_frame,
    make_arms,
    scrape,
)

from greenllm.analysis.compare import greenllm_metrics_from_frame
from greenllm.analysis.latency_gap import (
    arm_table,
    format_table,
    histogram_means_ms,
    with_server_view,
)
from greenllm.analysis.pooled_quantiles import format_pooled_table, pooled_table
from greenllm.atomic import write_json, write_text
from greenllm.load.sustained import (
    LADDER,
    SustainCheck,
    ladder_rates,
    sustained_capacity,
)


def crossover_seeds(rnd: int) -> tuple[int, int]:
    """The two arms' arrival seeds in paired round ``rnd``: rounds 2j and 2j+1 use seeds
    2j and 2j+1, swapped between the arms (a crossover design). Both rounds of a pair
    send the engine the same combined stream, and each arm meets both halves of it, so
    which arm's arrivals fell into a burst (near capacity, TTFT is mostly queueing and
    follows the burst) weighs on both arms alike instead of on one."""
    base, swap = 2 * (rnd // 2), rnd % 2
    return base + swap, base + 1 - swap


class PairedArms:
    """Two arms, each in a worker process (``latency_gap.py worker``), started together.

    The workers read one JSON command a line on stdin and answer on a private copy of
    their stdout (whatever ``vllm bench serve`` prints goes to stderr instead)."""

    def __init__(self, a: argparse.Namespace, names: list[str], out: Path):
        if len(names) != 2:
            raise SystemExit(f"--paired needs exactly two arms, got {','.join(names)}")
        self.names = names
        self.workers = {}
        for name in names:
            argv = [sys.executable, str(Path(__file__).resolve()), "worker", "--arm", name,
                    "--base-url", a.base_url, "--model", a.model, "--tokenizer", a.tokenizer,
                    "--workload", a.workload, "--out", str(out)]
            self.workers[name] = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                                  stdout=subprocess.PIPE, text=True)
        for name in names:
            self._reply(name)  # {"ready": true} once the arm is built

    def _reply(self, name: str) -> dict[str, Any]:
        line = self.workers[name].stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise SystemExit(f"worker for arm {name} exited "
                             f"(code {self.workers[name].wait()}): see its stderr above")
        reply = json.loads(line)
        if "error" in reply:
            raise SystemExit(f"arm {name}: {reply['error']}")
        return reply

    def run(self, rate: float, n: int, rnd: int) -> dict[str, tuple[int, int, dict[str, float]]]:
        """Both arms at rate/2 with n/2 requests each, from the same wall-clock instant;
        each arm gets its own arrival draw (``crossover_seeds``): two Poisson streams at
        half the rate make one at the full rate. Returns {arm: (seed, n, metrics)}."""
        start = time.time() + 1.0
        sent = {}
        for name, seed in zip(self.names, crossover_seeds(rnd), strict=True):
            k = max(1, n // 2)
            sent[name] = (seed, k)
            cmd = {"rate": rate / 2.0, "n": k, "seed": seed, "start_wall": start}
            self.workers[name].stdin.write(json.dumps(cmd) + "\n")  # type: ignore[union-attr]
            self.workers[name].stdin.flush()  # type: ignore[union-attr]
        return {name: (*sent[name], self._reply(name)["metrics"]) for name in self.names}

    def close(self) -> None:
        for proc in self.workers.values():
            if proc.stdin:
                proc.stdin.close()
        for proc in self.workers.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main_worker(argv: list[str]) -> int:
    """One arm in its own process, for ``run --paired``: answers each command line."""
    p = argparse.ArgumentParser(prog="latency_gap.py worker")
    for flag in ("--arm", "--base-url", "--model", "--tokenizer", "--workload", "--out"):
        p.add_argument(flag, required=True)
    a = p.parse_args(argv)
    reply_to = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything the arm prints goes to stderr, not into the replies
    try:
        arm = make_arms(argparse.Namespace(**{**vars(a), "arms": a.arm}), Path(a.out))[a.arm]
    except BaseException as exc:  # noqa: BLE001 - reported to the coordinator, then exit
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), file=reply_to, flush=True)
        return 1
    print(json.dumps({"ready": True}), file=reply_to, flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        time.sleep(max(0.0, float(cmd["start_wall"]) - time.time()))
        try:
            reply = {"metrics": arm(float(cmd["rate"]), int(cmd["n"]), int(cmd["seed"]))}
        except Exception as exc:  # noqa: BLE001 - one failed run ends the benchmark
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(reply), file=reply_to, flush=True)
    return 0


def measured_run(arm: Arm, base_url: str, rate: float, n: int, seed: int) -> dict[str, float]:
    before = scrape(base_url)
    client = arm(rate, n, seed)
    time.sleep(0.5)  # the engine's histograms are updated as its output is processed
    return with_server_view(client, histogram_means_ms(before, scrape(base_url)))


def measure_capacity(a: argparse.Namespace, save: Callable[..., None],
                     paired: PairedArms | None = None) -> float:
    """The highest rate the server sustains (``greenllm.load.sustained``): a burst of
    --capacity-n requests gives its throughput, then runs of --min-duration-s at falling
    fractions of it until one shows no growing queue. Every run is saved (kind
    ``capacity``: the burst, ``sustain``: the ladder's probes with their check).

    With ``paired`` (and a greenllm arm among the two) the ladder's runs are paired
    rounds, so the rate is one the engine sustains under the load the paired rounds put
    on the host: on the H200 an engine that kept up with 88 req/s from one client
    queued at 62 req/s in paired rounds (docs/load.md)."""
    frame_of = greenllm_frame(a.base_url, a.model, a.workload, prompt_format="text",
                              plain=False)
    burst = greenllm_metrics_from_frame(frame_of(0.0, a.capacity_n, 10_000), itl="chunk")
    save("capacity", "text", 0.0, -1, 10_000, burst, a.capacity_n)
    print(f"burst of {a.capacity_n}: {burst['throughput_rps']:.2f} req/s", flush=True)
    if paired is not None and any(name in GREENLLM_ARMS for name in paired.names):
        return _paired_capacity(a, save, paired, burst["throughput_rps"])

    def count(rate: float) -> int:
        return max(a.n, int(round(rate * a.min_duration_s)))

    def run_at(rate: float) -> pd.DataFrame:
        return frame_of(rate, count(rate), 10_001)

    def on_check(frame: pd.DataFrame, check: SustainCheck) -> None:
        metrics = greenllm_metrics_from_frame(frame, itl="chunk")
        save("sustain", "text", check.rate_rps, -1, 10_001, {**metrics, **check.as_dict()},
             count(check.rate_rps))
        print(f"  {check.rate_rps:g} req/s: {check.reason}", flush=True)

    rate, _ = sustained_capacity(run_at, burst["throughput_rps"], on_check=on_check)
    if rate is None:
        raise SystemExit(f"no rate down to {min(LADDER):.0%} of the burst's "
                         f"{burst['throughput_rps']:.2f} req/s was sustained: pass --rates")
    return rate


def _paired_capacity(a: argparse.Namespace, save: Callable[..., None], paired: PairedArms,
                     burst_rps: float) -> float:
    """The ladder of ``measure_capacity`` in paired rounds: a rate counts as sustained
    when every greenllm arm's half of it kept up (``check_sustained`` in the worker)."""
    for step, rate in enumerate(ladder_rates(burst_rps)):
        n = max(a.n, int(round(rate * a.min_duration_s)))
        results = paired.run(rate, n, 10_000 + step)
        for name, (seed, k, metrics) in results.items():
            save("sustain", name, rate, -1, seed, metrics, k, paired=True)
        checks = [(name, m) for name, (_, _, m) in results.items() if "sustained" in m]
        held = bool(checks) and all(m["sustained"] for _, m in checks)
        print(f"  {rate:g} req/s paired: "
              + "; ".join(f"{name} {m.get('sustain_reason', '')}" for name, m in checks),
              flush=True)
        if held:
            return rate
    raise SystemExit(f"no rate down to {min(LADDER):.0%} of the burst's {burst_rps:.2f} "
                     "req/s was sustained in paired rounds: pass --rates")


def main_run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="latency_gap.py run")
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True, help="served model name")
    p.add_argument("--tokenizer", required=True, help="the model folder (for vllm bench)")
    p.add_argument("--workload", default="M-M")
    p.add_argument("--rates", default="7.9,auto70",
                   help="req/s, comma separated; autoNN = NN %% of the sustained rate")
    p.add_argument("-n", type=int, default=120, help="requests per run (at least)")
    p.add_argument("--min-duration-s", type=float, default=15.0,
                   help="more requests where n would send for less than this")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--first-round", type=int, default=0,
                   help="number the rounds (and draw their seeds) from here: a later call "
                        "on the same server continues a run instead of repeating its draws")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--capacity-n", type=int, default=400)
    p.add_argument("--deadline-s", type=float, default=1e9,
                   help="start no run after this many seconds (all finished runs kept; "
                        "--paired finishes a started pair of rounds)")
    p.add_argument("--paired", action="store_true",
                   help="two arms at once each round, half the rate each (see module doc)")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    t_start = time.monotonic()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    names = a.arms.split(",")
    if a.paired and a.first_round % 2:
        raise SystemExit(f"--first-round {a.first_round}: paired rounds cross their draws "
                         "in pairs (2j, 2j+1), so a continuation starts at an even round")
    paired = PairedArms(a, names, out) if a.paired else None
    try:
        return _run_rounds(a, out, names, paired, t_start)
    finally:
        if paired is not None:
            paired.close()


def _run_rounds(a: argparse.Namespace, out: Path, names: list[str],
                paired: PairedArms | None, t_start: float) -> int:
    arms = {} if paired else make_arms(a, out)
    runs: list[dict[str, Any]] = []
    path = out / "runs.json"

    def save(kind: str, arm: str, rate: float, rnd: int, seed: int, metrics: dict,
             n: int, **extra: Any) -> None:
        requests = metrics.pop("per_request", None)  # kept beside the metrics, not in them
        if requests:
            extra["requests"] = requests
        runs.append({"kind": kind, "arm": arm, "rate": rate, "round": rnd, "seed": seed,
                     "workload": a.workload, "n": n, "metrics": metrics, **extra})
        write_json(path, runs)

    rates: list[float] = []
    capacity: float | None = None
    for item in a.rates.split(","):
        if item.startswith("auto"):
            if capacity is None:
                capacity = measure_capacity(a, save, paired)
            rate = round(capacity * float(item[4:]) / 100.0, 2)
            print(f"sustained {capacity:.2f} req/s -> {item} = {rate} req/s", flush=True)
            rates.append(rate)
        else:
            rates.append(float(item))
    for rate in rates:
        n = max(a.n, int(round(rate * a.min_duration_s)))
        for rnd in range(a.first_round, a.first_round + a.rounds):
            if paired is not None:
                if past_deadline_at_pair_start(rnd, a.first_round,
                                               time.monotonic() - t_start, a.deadline_s):
                    print(f"deadline: stopping before rate {rate} round {rnd}")
                    return 0
                for name, (seed, k, metrics) in paired.run(rate, n, rnd).items():
                    save("gap", name, rate, rnd, seed, metrics, k, paired=True)
                    _print_run(rate, rnd, name, metrics, "paired")
                continue
            k = rnd % len(names)
            order = names[k:] + names[:k]
            if rnd % 2:
                order.reverse()
            for name in order:
                if time.monotonic() - t_start > a.deadline_s:
                    print(f"deadline: stopping before rate {rate} round {rnd} {name}")
                    return 0
                t0 = time.monotonic()
                metrics = measured_run(arms[name], a.base_url, rate, n, rnd)
                save("gap", name, rate, rnd, rnd, metrics, n)
                _print_run(rate, rnd, name, metrics, f"{time.monotonic() - t0:5.1f} s")
    return 0


def past_deadline_at_pair_start(rnd: int, first_round: int, elapsed_s: float,
                                deadline_s: float) -> bool:
    """Whether a paired run stops before round `rnd`.

    Paired rounds cross their draws in pairs (2j, 2j+1), so the deadline is checked only
    before a pair's first round: a pair once started is finished, and no rate is left
    with half a crossover (the second round of a pair runs past the deadline by one
    round's time).
    """
    return (rnd - first_round) % 2 == 0 and elapsed_s > deadline_s


def _print_run(rate: float, rnd: int, name: str, metrics: dict[str, float], note: str) -> None:
    print(f"rate {rate:g} round {rnd} {name:10s} {note}  "
          f"ttft p50 {metrics.get('ttft_p50_ms', float('nan')):6.2f}  "
          f"server ttft {metrics.get('server_ttft_mean_ms', float('nan')):6.2f}  "
          f"tpot p50 {metrics.get('tpot_p50_ms', float('nan')):5.2f}  "
          f"itl p50 {metrics.get('itl_p50_ms', float('nan')):5.2f}", flush=True)


def main_report(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="latency_gap.py report")
    p.add_argument("runs", nargs="+", help="runs.json files")
    p.add_argument("--reference", default="vllm")
    p.add_argument("--md", help="also write the table here")
    a = p.parse_args(argv)
    runs = [r for f in a.runs for r in json.loads(Path(f).read_text()) if r["kind"] == "gap"]
    seen: set[tuple[float, str, int]] = set()
    for r in runs:
        key = (float(r["rate"]), str(r["arm"]), int(r["round"]))
        if key in seen:
            raise SystemExit(f"round {key[2]} of arm {key[1]} at {key[0]:g} req/s is in more "
                             "than one runs file: continue a run with --first-round")
        seen.add(key)
    table = format_table(arm_table(runs, a.reference), a.reference)
    pooled = pooled_table(runs, a.reference)
    if pooled:  # runs saved with their requests (since 2026-12-07)
        table += ("\n\nPooled over rounds (each side's requests of all rounds in one "
                  "quantile; interval: rounds resampled):\n\n"
                  + format_pooled_table(pooled, a.reference))
    print(table)
    if a.md:
        write_text(Path(a.md), table + "\n")
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "run":
        return main_run(argv[1:])
    if argv and argv[0] == "report":
        return main_report(argv[1:])
    if argv and argv[0] == "worker":
        return main_worker(argv[1:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
