"""What greenllm's telemetry sampler costs a serving engine's throughput.

    python benchmarks/sampler_vllm_overhead.py --base-url URL --model NAME \
        [--workload M-M] [-n 1000] [--runs 3] [--phase-s 1.0] [--period-ms 20] \
        [--backend nvml | --backend sim --sim-state FILE] [--json out.json]

Each run queues ``n`` requests at once (the engine stays saturated while they are
admitted) and switches the sampler off and on in alternating ``phase-s`` phases, in this
process, as a measure run has it (the client's event loop and the sampler thread share
it). Tokens per second are compared between each off phase and the on phase after it,
inside the steady window (``greenllm.analysis.phase_overhead``). Prints per run and pooled:
the median on/off ratio over pairs with its 95 % CI, and the overhead (1 - ratio).
Goal (issue 6): overhead <= 0.5 %.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a source tree without installing

import numpy as np  # noqa: E402

from greenllm.analysis.phase_overhead import Phase, phase_rates, steady_window  # noqa: E402
from greenllm.analysis.uncertainty import median_ci  # noqa: E402
from greenllm.atomic import write_json  # noqa: E402
from greenllm.errors import GreenllmError  # noqa: E402


class Toggler(threading.Thread):
    """Alternates off and on phases of the sampler until stopped; records each phase."""

    def __init__(self, gpu, period_s: float, phase_s: float) -> None:
        super().__init__(name="sampler-toggler", daemon=True)
        self.gpu, self.period_s, self.phase_s = gpu, period_s, phase_s
        self.phases: list[Phase] = []
        self.ticks = 0
        self._halt = threading.Event()

    def run(self) -> None:
        from greenllm.gpu.telemetry import TelemetrySampler

        on = False
        while not self._halt.is_set():
            t0 = time.monotonic()
            sampler = TelemetrySampler(self.gpu, period_s=self.period_s).start() if on else None
            self._halt.wait(self.phase_s)
            if sampler is not None:
                sampler.stop()
                self.ticks += sampler.n_ticks
            self.phases.append(Phase(t0, time.monotonic(), on))
            on = not on

    def stop(self) -> None:
        self._halt.set()
        self.join()


def one_run(args: argparse.Namespace, gpu, seed: int) -> tuple[dict, list[float]]:
    from greenllm.load.arrivals import arrival_offsets_s
    from greenllm.load.client import run_requests_sync
    from greenllm.load.workloads import workload_from

    wl = workload_from(args.workload)
    offsets = arrival_offsets_s("constant", 1000.0, args.n, seed)  # all queued at once
    toggler = Toggler(gpu, args.period_ms / 1000.0, args.phase_s)
    toggler.start()
    try:
        records = run_requests_sync(args.base_url, args.model, wl, offsets, seed=seed,
                                    timeout_s=args.timeout, tokens_per_chunk="auto",
                                    request_id_prefix=f"ovh{seed}-")
    finally:
        toggler.stop()
    failed = sum(1 for r in records if r.error)
    if failed:
        raise GreenllmError(f"{failed} of {len(records)} requests failed")
    first = [r.token_times_s[0] for r in records if r.token_times_s]
    tokens = [t for r in records for t in r.token_times_s]
    result = phase_rates(tokens, toggler.phases, steady_window(first, settle_s=args.settle_s))
    out = result.to_dict() | {"seed": float(seed), "sampler_ticks": float(toggler.ticks)}
    return out, result.pair_ratios


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True, help="served model name")
    p.add_argument("--workload", default="M-M")
    p.add_argument("-n", type=int, default=1000, help="requests per run, all queued at once")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--phase-s", type=float, default=1.0)
    p.add_argument("--settle-s", type=float, default=1.0,
                   help="skip this long after the first token before counting")
    p.add_argument("--period-ms", type=float, default=20.0, help="sampler period (default 20)")
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
        runs, ratios = [], []
        for k in range(args.runs):
            out, pair_ratios = one_run(args, gpu, seed=k)
            runs.append(out)
            ratios += pair_ratios
            print(f"run {k + 1}/{args.runs}: {out['pairs']:.0f} pairs in {out['window_s']:.1f} s, "
                  f"off {out['rate_off_tok_s']:.0f} tok/s, on {out['rate_on_tok_s']:.0f} tok/s, "
                  f"on/off median {out['ratio_on_off']:.4f} "
                  f"[{out['ratio_ci_low']:.4f}, {out['ratio_ci_high']:.4f}]", flush=True)
            if args.json:  # every run kept as it ends
                write_json(args.json, {"runs": runs, "pair_ratios": ratios})
    except GreenllmError as exc:
        print(f"sampler_vllm_overhead: error: {exc}", file=sys.stderr)
        return 2
    median = float(np.median(ratios))
    lo, hi = median_ci(ratios)
    pooled = {"pairs": len(ratios), "ratio_on_off": median, "ci": [lo, hi],
              "overhead": 1.0 - median, "goal_met": bool(1.0 - lo <= 0.005)}
    print(f"pooled: {len(ratios)} pairs, on/off median {median:.4f} [{lo:.4f}, {hi:.4f}], "
          f"overhead {100 * (1 - median):+.2f} % (upper 95 % bound {100 * (1 - lo):+.2f} %; "
          f"goal <= 0.5 %: {'met' if pooled['goal_met'] else 'not shown'})")
    if args.json:
        write_json(args.json, {"runs": runs, "pair_ratios": ratios, "pooled": pooled})
    return 0


if __name__ == "__main__":
    sys.exit(main())
