"""What a serving engine's step costs when a prefill joins a decode batch.

    python benchmarks/mixed_step_probe.py --base-url URL --model NAME \
        [--background 8] [--background-output 1900] [--prompts 8,32,64,100,120,200,500] \
        [--injections 30] [--interval-s 0.2] [--json out.json]

For each prompt length ``P``: ``background`` requests (16-token prompts) decode
``background-output`` tokens each, and meanwhile ``injections`` requests with a ``P``-token
prompt and one output token are sent every ``interval-s``. Each injected request is
prefilled in one step shared with the background decodes; the background's gap ending with
the injected request's first token is that mixed step (``greenllm.analysis.step_probe``).
Prints, per ``P``: the undisturbed decode step, the mixed step, their difference, the step
after, and the step during which the request arrived, all medians in ms.

Why (issue 6, docs/calibration.md): the simulator prices a mixed step from FLOPs and
bytes, and misses the 7B/13B S-S throughput limits by 2-3×; on vLLM a mixed batch up to
the CUDA-graph capture size replays piecewise graphs with attention launched eagerly in
every layer, above it no graph at all. ``background + P`` either side of the capture
size (2 × max-num-seqs, at most 512) shows which regime costs what, per model shape.
Runs against any OpenAI-compatible streaming server, the simulated one included.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a source tree without installing

import numpy as np  # noqa: E402

from greenllm.analysis.step_probe import step_cost  # noqa: E402
from greenllm.atomic import write_json  # noqa: E402
from greenllm.errors import GreenllmError  # noqa: E402
from greenllm.load.client import run_requests  # noqa: E402


async def one_probe(args: argparse.Namespace, prompt_tokens: int, seed: int):
    background = {"id": "probe-bg", "input_tokens": 16, "output_tokens": args.background_output}
    injected = {"id": f"probe-p{prompt_tokens}", "input_tokens": prompt_tokens,
                "output_tokens": 1}
    offsets = args.start_s + args.interval_s * np.arange(args.injections)
    bg, inj = await asyncio.gather(
        run_requests(args.base_url, args.model, background, np.zeros(args.background),
                     seed=seed, timeout_s=args.timeout, request_id_prefix=f"bg{seed}-"),
        run_requests(args.base_url, args.model, injected, offsets, seed=seed + 1000,
                     timeout_s=args.timeout, request_id_prefix=f"inj{seed}-"))
    failed = [r for r in (*bg, *inj) if not r.ok]
    if failed:
        raise GreenllmError(f"{len(failed)} probe requests failed, e.g. {failed[0].error}")
    cost = step_cost([r.token_times_s for r in bg], [r.first_token_s for r in inj],
                     [r.send_s for r in inj])
    ended = max(r.last_token_s for r in bg)
    late = sum(1 for r in inj if r.first_token_s > ended)
    return cost, late


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True, help="served model name")
    p.add_argument("--background", type=int, default=8, help="decoding background requests")
    p.add_argument("--background-output", type=int, default=1900,
                   help="their output tokens (prompt 16: stay under max-model-len)")
    p.add_argument("--prompts", default="8,32,64,100,120,200,500",
                   help="injected prompt lengths, comma separated")
    p.add_argument("--injections", type=int, default=30)
    p.add_argument("--interval-s", type=float, default=0.2)
    p.add_argument("--start-s", type=float, default=0.5)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    try:
        prompts = [int(x) for x in args.prompts.split(",") if x.strip()]
        if not prompts or min(prompts) < 1 or args.background < 1 or args.injections < 1:
            raise GreenllmError("need prompt lengths >= 1, background >= 1, injections >= 1")
        rows = []
        print(f"{'P':>5} {'tokens':>6} {'n':>3} {'decode ms':>9} {'mixed ms':>8} "
              f"{'extra ms':>8} {'next ms':>7} {'arrival ms':>10}", flush=True)
        for k, prompt in enumerate(prompts):
            cost, late = asyncio.run(one_probe(args, prompt, seed=k))
            row = {"prompt_tokens": prompt, "step_tokens": args.background + prompt,
                   "late_injections": late} | cost.to_dict()
            rows.append(row)
            print(f"{prompt:>5} {row['step_tokens']:>6} {cost.injections:>3} "
                  f"{cost.base_ms:>9.2f} {cost.mixed_ms:>8.2f} {cost.extra_ms:>+8.2f} "
                  f"{cost.next_ms:>7.2f} {cost.arrival_ms:>10.2f}", flush=True)
            if args.json:  # kept as each probe ends
                write_json(args.json, {"args": vars(args), "probes": rows})
    except (GreenllmError, ValueError) as exc:
        print(f"mixed_step_probe: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
