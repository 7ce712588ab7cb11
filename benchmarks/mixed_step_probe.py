"""What a serving engine's step costs when a prefill joins a decode batch.

    python benchmarks/mixed_step_probe.py --base-url URL --model NAME \
        [--background 8] [--background-output 1900] [--prompts 8,32,64,100,120,200,500] \
        [--injections 30] [--interval-s 0.2] [--json out.json] [--raw-dir DIR]
    python benchmarks/mixed_step_probe.py --reanalyse DIR [--json out.json]

For each prompt length ``P``: ``background`` requests (16-token prompts) decode
``background-output`` tokens each, and meanwhile ``injections`` requests with a ``P``-token
prompt and one output token are sent every ``interval-s``. Each injected request is
prefilled in one step shared with the background decodes; the background's gap ending with
the injected request's first token marks that step (``greenllm.analysis.step_probe``).
Prints, per ``P``: the undisturbed decode step, the excess (what admission and prefill
cost the background over a window of five gaps around it), the gaps before, with and
after the first token, and the gap during which the request arrived; medians in ms.

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
import pandas as pd  # noqa: E402

from greenllm.analysis.step_probe import step_cost  # noqa: E402
from greenllm.atomic import write_json, write_parquet  # noqa: E402
from greenllm.errors import GreenllmError  # noqa: E402
from greenllm.load.client import records_to_frame, run_requests  # noqa: E402


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
    cost, late = analyse(bg, inj)
    return cost, late, [*bg, *inj]


def analyse(bg, inj):
    """(StepCost, injected requests whose first token came after the background ended)."""
    cost = step_cost([r.token_times_s for r in bg], [r.first_token_s for r in inj],
                     [r.send_s for r in inj])
    ended = max(r.last_token_s for r in bg)
    return cost, sum(1 for r in inj if r.first_token_s > ended)


def saved_probes(raw_dir: str):
    """(prompt tokens, background records, injected records) of each saved probe, by P."""
    from greenllm.load.client import frame_to_records

    paths = sorted(Path(raw_dir).glob("probe-p*.parquet"),
                   key=lambda q: int(q.stem.removeprefix("probe-p")))
    if not paths:
        raise GreenllmError(f"{raw_dir}: no probe-p*.parquet files")
    for path in paths:
        try:
            records = frame_to_records(pd.read_parquet(path))
        except (OSError, ValueError, KeyError) as exc:
            raise GreenllmError(f"{path}: not a probe's records ({exc})") from None
        yield (int(path.stem.removeprefix("probe-p")),
               [r for r in records if r.workload_id == "probe-bg"],
               [r for r in records if r.workload_id != "probe-bg"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-url")
    p.add_argument("--model", help="served model name")
    p.add_argument("--reanalyse", metavar="RAW_DIR",
                   help="no server: analyse the records a --raw-dir run saved")
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
    p.add_argument("--raw-dir", help="write each probe's request records here (parquet); "
                                     "analyse again with --reanalyse")
    args = p.parse_args(argv)
    try:
        if args.reanalyse is None and not (args.base_url and args.model):
            raise GreenllmError("need --base-url and --model (or --reanalyse RAW_DIR)")
        prompts = [int(x) for x in args.prompts.split(",") if x.strip()]
        if not prompts or min(prompts) < 1 or args.background < 1 or args.injections < 1:
            raise GreenllmError("need prompt lengths >= 1, background >= 1, injections >= 1")
        rows = []
        print(f"{'P':>5} {'tokens':>6} {'n':>3} {'decode ms':>9} {'excess ms':>9} "
              f"{'before ms':>9} {'mixed ms':>8} {'next ms':>7} {'arrival ms':>10}", flush=True)

        def probes():
            if args.reanalyse is not None:
                for prompt, bg, inj in saved_probes(args.reanalyse):
                    yield prompt, len(bg), *analyse(bg, inj)
                return
            for k, prompt in enumerate(prompts):
                cost, late, records = asyncio.run(one_probe(args, prompt, seed=k))
                if args.raw_dir:  # every token time, to look again at what medians hide
                    write_parquet(Path(args.raw_dir) / f"probe-p{prompt}.parquet",
                                  records_to_frame(records))
                yield prompt, args.background, cost, late

        for prompt, n_bg, cost, late in probes():
            row = {"prompt_tokens": prompt, "step_tokens": n_bg + prompt,
                   "late_injections": late} | cost.to_dict()
            rows.append(row)
            print(f"{prompt:>5} {row['step_tokens']:>6} {cost.injections:>3} "
                  f"{cost.base_ms:>9.2f} {cost.excess_ms:>+9.2f} {cost.before_ms:>9.2f} "
                  f"{cost.mixed_ms:>8.2f} {cost.next_ms:>7.2f} {cost.arrival_ms:>10.2f}",
                  flush=True)
            if args.json:  # kept as each probe ends
                write_json(args.json, {"args": vars(args), "probes": rows})
    except (GreenllmError, ValueError) as exc:
        print(f"mixed_step_probe: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
