"""What greenllm's telemetry sampler costs a serving engine's throughput.

    python benchmarks/sampler_vllm_overhead.py --base-url URL --model NAME \
        [--workload M-M] [--load closed|waves|burst] [--concurrency 80] [--wave-n 64] \
        [--duration-s 240] \
        [--phase-s 5] [--settle-s 20] [--runs 1] [--period-ms 20] \
        [--backend nvml | --backend sim --sim-state FILE] [--json out.json]

The sampler is switched off and on in alternating ``phase-s`` phases, in this process,
as a measure run has it (the client's event loop and the sampler thread share it; the
sampler reads the energy counter as often as ``greenllm measure`` does). Each on phase's
throughput is compared with the mean of the off phases either side of it
(``greenllm.analysis.phase_overhead``), inside the steady window.

Throughput is counted twice: by the engine itself (vLLM's ``generation_tokens_total``
from ``/metrics``, read at every phase boundary: the primary number, independent of how
fast this client reads) and by token arrival times at the client.

Load (``--load``):
  closed  ``concurrency`` requests always in flight for ``duration-s``, output lengths
          spread ±50 % so the batch stays full and mixed (``greenllm.load.closed_loop``);
          the steady window starts ``settle-s`` after the start. The default.
  waves   ``wave-n`` identical requests (same prompts, exact output lengths) sent at once,
          again and again for ``duration-s``; the sampler off in even waves and on in odd
          ones, each wave one phase timed from its first send to its last token
          (``greenllm.load.waves``). Every wave is the same engine work, so the phase
          noise is what the engine's speed varies by, not what its batch happens to hold.
          ``wave-n`` at most the engine's max batch keeps the waves in lock step.
  burst   ``n`` requests queued at once (the first attempts; equal requests then run in
          synchronized waves, which phases of ~1 s alias with).

Prints per run and pooled: the median on/off ratio with its 95 % CI, the drift
regression's on effect with its standard error, and the phase-to-phase noise. Goal
(issue 6): overhead <= 0.5 %, shown when both 95 % upper bounds are within it.

    python benchmarks/sampler_vllm_overhead.py pool A.json B.json [--json pooled.json]

pools the runs of earlier ``--json`` files (sessions on other cards pool: every
comparison is within its own run).
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a source tree without installing


from greenllm.analysis.phase_overhead import (  # noqa: E402
    Phase,
    PhaseOverhead,
    PooledOverhead,
    counted_rates,
    phase_rates,
    pool,
    steady_window,
)
from greenllm.atomic import write_json  # noqa: E402
from greenllm.errors import GreenllmError  # noqa: E402

GOAL = 0.005


def start_sampler(gpu, period_s: float):
    """The sampler as ``greenllm measure`` runs it (energy counter as often as there)."""
    from greenllm.gpu.telemetry import TelemetrySampler

    return TelemetrySampler(gpu, period_s=period_s, energy_period_s="auto").start()


class Toggler(threading.Thread):
    """Alternates off and on phases of the sampler until stopped; records each phase and,
    when ``read_counter`` is given, the engine's counted work in it."""

    def __init__(self, gpu, period_s: float, phase_s: float, read_counter=None) -> None:
        super().__init__(name="sampler-toggler", daemon=True)
        self.gpu, self.period_s, self.phase_s = gpu, period_s, phase_s
        self.read_counter = read_counter
        self.phases: list[Phase] = []
        self.ticks = 0
        self.error: BaseException | None = None
        self._halt = threading.Event()

    def _read(self) -> tuple[float, float | None]:
        if self.read_counter is None:
            return time.monotonic(), None
        a = time.monotonic()
        value = self.read_counter()
        return 0.5 * (a + time.monotonic()), value

    def run(self) -> None:
        try:
            on = False
            t_prev, c_prev = self._read()
            while not self._halt.is_set():
                sampler = start_sampler(self.gpu, self.period_s) if on else None
                self._halt.wait(self.phase_s)
                if sampler is not None:
                    sampler.stop()
                    self.ticks += sampler.n_ticks
                t, c = self._read()
                count = None if c is None or c_prev is None else c - c_prev
                self.phases.append(Phase(t_prev, t, on, count))
                t_prev, c_prev = t, c
                on = not on
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            self.error = exc

    def stop(self) -> None:
        self._halt.set()
        self.join()
        if self.error is not None:
            raise GreenllmError(f"phase toggler failed: {self.error}") from self.error


def server_counter(base_url: str):
    """A reader of the engine's generated-token counter, or None (with a note) if the
    server has none."""
    from greenllm.engine.server_metrics import read_counter

    try:
        read_counter(base_url)
    except GreenllmError as exc:
        print(f"note: {exc}; counting client-side token arrivals only", file=sys.stderr)
        return None
    return lambda: read_counter(base_url)


class WaveToggler:
    """``before``/``after`` hooks for ``greenllm.load.waves``: the sampler off in even
    waves and on in odd ones, started before and stopped after the wave's timed span, and
    the engine's counter read on either side of it; one phase per wave."""

    def __init__(self, gpu, period_s: float, read_counter=None) -> None:
        self.gpu, self.period_s, self.read_counter = gpu, period_s, read_counter
        self.ticks = 0
        self.counts: list[float | None] = []  # the engine's count over each wave
        self._sampler = None
        self._c0: float | None = None

    def before(self, k: int) -> None:
        if k % 2 == 1:
            self._sampler = start_sampler(self.gpu, self.period_s)
        self._c0 = None if self.read_counter is None else self.read_counter()

    def after(self, k: int) -> None:
        c1 = None if self.read_counter is None else self.read_counter()
        self.close()
        self.counts.append(None if c1 is None or self._c0 is None else c1 - self._c0)

    def close(self) -> None:
        """Stop the sampler if it runs (also after a wave that raised: it must not run on)."""
        if self._sampler is not None:
            self._sampler.stop()
            self.ticks += self._sampler.n_ticks
            self._sampler = None


def run_waves(args: argparse.Namespace, gpu, seed: int, read_counter):
    """Records, phases (one per wave, timed as the wave) and sampler ticks of a waves run."""
    from greenllm.load.waves import run_waves_sync

    hooks = WaveToggler(gpu, args.period_ms / 1000.0, read_counter)
    try:
        waves = run_waves_sync(args.base_url, args.model, args.workload, size=args.wave_n,
                               duration_s=args.duration_s, seed=seed, timeout_s=args.timeout,
                               before=hooks.before, after=hooks.after,
                               request_id_prefix=f"ovh{seed}-")
    finally:
        hooks.close()
    phases = [Phase(w.t0, w.t1, w.index % 2 == 1, count)
              for w, count in zip(waves, hooks.counts, strict=True)]
    return [r for w in waves for r in w.records], phases, hooks.ticks


def one_run(args: argparse.Namespace, gpu, seed: int) -> tuple[dict, PhaseOverhead]:
    from greenllm.load.arrivals import arrival_offsets_s
    from greenllm.load.client import run_requests_sync
    from greenllm.load.closed_loop import run_closed_loop_sync
    from greenllm.load.workloads import workload_from

    wl = workload_from(args.workload)
    read_counter = server_counter(args.base_url)
    start = time.monotonic()
    if args.load == "waves":
        records, phases, ticks = run_waves(args, gpu, seed, read_counter)
    else:
        toggler = Toggler(gpu, args.period_ms / 1000.0, args.phase_s, read_counter)
        toggler.start()
        try:
            if args.load == "closed":
                records = run_closed_loop_sync(
                    args.base_url, args.model, wl, concurrency=args.concurrency,
                    duration_s=args.duration_s, seed=seed, timeout_s=args.timeout,
                    request_id_prefix=f"ovh{seed}-")
            else:
                offsets = arrival_offsets_s("constant", 1000.0, args.n, seed)  # all at once
                records = run_requests_sync(args.base_url, args.model, wl, offsets, seed=seed,
                                            timeout_s=args.timeout, tokens_per_chunk="auto",
                                            request_id_prefix=f"ovh{seed}-")
        finally:
            toggler.stop()
        phases, ticks = toggler.phases, toggler.ticks
    failed = [r for r in records if r.error]
    if len(failed) > 0.01 * len(records):
        raise GreenllmError(f"{len(failed)} of {len(records)} requests failed, e.g. "
                            f"{failed[0].error}")
    if args.load == "burst":
        first = [r.token_times_s[0] for r in records if r.token_times_s]
        window = steady_window(first, settle_s=args.settle_s)
    else:  # closed and waves: from settle-s after the start to the end
        window = (start + args.settle_s, max([start + args.duration_s]
                                             + [p.t1 for p in phases]))
    tokens = [t for r in records for t in r.token_times_s]
    client = phase_rates(tokens, phases, window)
    out = {"seed": seed, "requests": len(records), "failed": len(failed),
           "sampler_ticks": ticks, "client": client.to_dict(),
           "window": [window[0] - start, window[1] - start],
           "phases": [[p.t0 - start, p.t1 - start, p.on, p.count] for p in phases]}
    primary = client
    if read_counter is not None:
        primary = counted_rates(phases, window)
        out["server"] = primary.to_dict()
    out["primary"] = "server" if read_counter is not None else "client"
    return out, primary


def describe(label: str, d: dict) -> str:
    return (f"{label}: {d['pairs']:.0f} on phases in {d['window_s']:.0f} s, off "
            f"{d['rate_off_tok_s']:.0f} tok/s, on {d['rate_on_tok_s']:.0f} tok/s, phase noise "
            f"{100 * d['cv_phase']:.2f} %, on/off median {d['ratio_on_off']:.4f} "
            f"[{d['ratio_ci_low']:.4f}, {d['ratio_ci_high']:.4f}]; drift regression: on "
            f"{100 * d['regression_effect']:+.2f} % ± {100 * d['regression_se']:.2f} % (1 s.e.)")


def report(pooled: PooledOverhead, counted_by: str) -> dict:
    """Print the pooled result; the goal counts as shown only when both 95 % upper bounds
    (the median's bootstrap and the drift regression's) are within it."""
    lo, hi = pooled.ratio_ci
    regression = pooled.overhead_upper
    upper = max(1.0 - lo, regression) if math.isfinite(regression) else 1.0 - lo
    met = bool(upper <= GOAL)
    print(f"pooled ({counted_by} counts, {pooled.n_runs} run(s)): {pooled.n_pairs} on phases, "
          f"on/off median {pooled.ratio:.4f} [{lo:.4f}, {hi:.4f}]; drift regression: on "
          f"{100 * pooled.effect:+.2f} % ± {100 * pooled.effect_se:.2f} %; overhead upper 95 % "
          f"bound {100 * upper:+.2f} % (goal <= {100 * GOAL:.1f} %: "
          f"{'met' if met else 'not shown'})")
    return pooled.to_dict() | {"overhead_upper": upper, "goal_met": met,
                               "counted_by": counted_by}


def saved_results(path: str) -> list[PhaseOverhead]:
    """The runs of a ``--json`` file, compared again from their saved phases."""
    import json

    try:
        doc = json.loads(Path(path).read_text())
        args = doc["args"]
        results = []
        for run in doc["runs"]:
            if "window" in run:
                window = tuple(run["window"])
            elif args.get("load") == "closed":  # files from before the window was saved
                window = (args["settle_s"], args["duration_s"])
            else:
                raise GreenllmError(f"{path}: a burst run without its window")
            phases = [Phase(t0, t1, on, count) for t0, t1, on, count in run["phases"]]
            results.append(counted_rates(phases, window))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GreenllmError(f"{path}: not a sampler_vllm_overhead --json file ({exc})") from None
    return results


def pool_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="sampler_vllm_overhead.py pool",
        description="Pool the runs of several --json files (e.g. sessions on other cards).")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", help="write the pooled result here")
    args = p.parse_args(argv)
    try:
        results = [r for f in args.files for r in saved_results(f)]
        pooled = report(pool(results), "server")
    except GreenllmError as exc:
        print(f"sampler_vllm_overhead: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        write_json(args.json, {"files": args.files, "pooled": pooled})
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pool"]:
        return pool_main(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True, help="served model name")
    p.add_argument("--workload", default="M-M")
    p.add_argument("--load", choices=("closed", "waves", "burst"), default="closed")
    p.add_argument("--concurrency", type=int, default=80,
                   help="closed load: requests in flight (above the engine's max batch)")
    p.add_argument("--duration-s", type=float, default=240.0,
                   help="closed and waves load: run length (a wave begun is finished)")
    p.add_argument("--wave-n", type=int, default=64,
                   help="waves load: requests per wave (at most the engine's max batch)")
    p.add_argument("-n", type=int, default=1000, help="burst load: requests queued at once")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--phase-s", type=float, default=5.0)
    p.add_argument("--settle-s", type=float, default=20.0,
                   help="skip this long (closed, waves: after the start; burst: after the first "
                        "token) before counting")
    p.add_argument("--period-ms", type=float, default=20.0,
                   help="sampler period (default 20, greenllm measure's)")
    p.add_argument("--backend", choices=("nvml", "sim"), default="nvml")
    p.add_argument("--sim-state", help="SimGpu state file (backend sim)")
    p.add_argument("--gpus", default=None, help="GPU selectors, comma separated (default all)")
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--json", help="write every run's numbers here")
    args = p.parse_args(argv)
    from greenllm.gpu.factory import open_gpus

    try:
        gpu = open_gpus(args.backend, args.gpus.split(",") if args.gpus else None,
                        args.sim_state)
        runs, results = [], []
        for k in range(args.runs):
            out, result = one_run(args, gpu, seed=k)
            runs.append(out)
            results.append(result)
            print(f"run {k + 1}/{args.runs}: {out['requests']} requests, "
                  f"{out['sampler_ticks']} sampler ticks", flush=True)
            for side in ("server", "client"):
                if side in out:
                    print("  " + describe(side, out[side]), flush=True)
            if args.json:  # every run kept as it ends
                write_json(args.json, {"args": vars(args), "runs": runs})
        pooled = report(pool(results), runs[-1]["primary"])
    except GreenllmError as exc:
        print(f"sampler_vllm_overhead: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        write_json(args.json, {"args": vars(args), "runs": runs, "pooled": pooled})
    return 0


if __name__ == "__main__":
    sys.exit(main())
