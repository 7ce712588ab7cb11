"""``greenllm recommend``: energy-optimal configurations and a schedule over a load
(docs/planner.md)."""

from __future__ import annotations

import argparse
import sys

from greenllm.errors import ConfigError
from greenllm.load.trace import TraceColumns, TraceSpec
from greenllm.recommend.cells import Slo
from greenllm.recommend.planner import Costs
from greenllm.recommend.run import PlanRequest, command_line, parse_mix, plan


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "recommend", help="energy-optimal configuration per cell and a schedule over a trace",
        description="Read measured tables (greenllm aggregate), an SLO and a load (a trace, "
        "or a rate and a workload mix); write a markdown plan, CSV tables and a Pareto "
        "figure. Only configurations whose SLO holds at the upper end of their 95 %% "
        "interval count; out-of-grid requests are stated, never extrapolated.")
    p.add_argument("--table", nargs="+", required=True, metavar="PARQUET",
                   help="cells or statistics tables (several are concatenated)")
    p.add_argument("--out", required=True, metavar="MD", help="the markdown plan; the other "
                   "outputs go beside it (<stem>.cells.csv, .schedule.csv, .pareto.png, ...)")
    slo = p.add_argument_group("SLO (default: each cell's own, from the table)")
    slo.add_argument("--slo-ttft-ms", type=float)
    slo.add_argument("--slo-tbt-ms", type=float)
    slo.add_argument("--slo-scale", type=float, help="x each cell's latency alone")
    load = p.add_argument_group("load: a trace, or --rate with --mix")
    load.add_argument("--trace", metavar="CSV")
    load.add_argument("--trace-columns", default="TIMESTAMP,ContextTokens,GeneratedTokens,datetime",
                      help="timestamp,input,output[,unit] column mapping (default: Azure's)")
    load.add_argument("--trace-start-s", type=float, default=0.0)
    load.add_argument("--trace-duration-s", type=float)
    load.add_argument("--time-scale", type=float, default=1.0)
    load.add_argument("--rate-scale", type=float, default=1.0)
    load.add_argument("--max-context", type=int, default=4096,
                      help="clip trace lengths to this context (default 4096)")
    load.add_argument("--window-s", type=float, default=300.0,
                      help="schedule window in trace seconds (default 300: 5 min)")
    load.add_argument("--rate", type=float, help="node request rate, req/s")
    load.add_argument("--mix", help="workload fractions, e.g. S-S:0.5,M-M:0.5")
    node = p.add_argument_group("node and reconfiguration costs")
    node.add_argument("--n-gpus", type=int, default=8)
    node.add_argument("--idle-power-w", type=float, default=Costs.idle_power_w)
    node.add_argument("--restart-s", type=float, default=Costs.restart_s)
    node.add_argument("--clock-change-s", type=float, default=Costs.clock_change_s)
    node.add_argument("--miss-weight-j", type=float, default=Costs.miss_weight_j)
    p.add_argument("--replay-instance", metavar="TP,BATCH",
                   help="also write the clock-only schedule of this instance (for a replay)")
    p.add_argument("--replay-results", metavar="JSON",
                   help="measured policy replays (greenllm.recommend.replay) to report beside")
    p.add_argument("--replay-prediction", metavar="JSON",
                   help="the prediction.json of a plan of the replay's own load (default: this one)")
    p.add_argument("--title", default="Energy-optimal operating plan")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.slo_ttft_ms is None) != (args.slo_tbt_ms is None):
        raise ConfigError("give both --slo-ttft-ms and --slo-tbt-ms, or neither")
    for name in ("slo_ttft_ms", "slo_tbt_ms", "slo_scale"):
        v = getattr(args, name)
        if v is not None and not v > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {v}")
    slo = Slo(None if args.slo_ttft_ms is None else args.slo_ttft_ms / 1e3,
              None if args.slo_tbt_ms is None else args.slo_tbt_ms / 1e3, args.slo_scale)
    if args.n_gpus < 1:
        raise ConfigError(f"--n-gpus must be at least 1, got {args.n_gpus}")
    trace = None
    if args.trace:
        cols = args.trace_columns.split(",")
        if len(cols) not in (3, 4):
            raise ConfigError("--trace-columns: timestamp,input,output[,unit]")
        trace = TraceSpec(args.trace, TraceColumns(*cols), start_s=args.trace_start_s,
                          duration_s=args.trace_duration_s, time_scale=args.time_scale,
                          rate_scale=args.rate_scale, max_context_tokens=args.max_context)
    replay = None
    if args.replay_instance:
        try:
            tp, batch = (int(x) for x in args.replay_instance.split(","))
        except ValueError:
            raise ConfigError("--replay-instance: TP,BATCH, e.g. 1,64") from None
        replay = (tp, batch)
    req = PlanRequest(
        tables=list(args.table), out=args.out, slo=slo,
        costs=Costs(args.n_gpus, args.idle_power_w, args.clock_change_s, args.restart_s,
                    args.miss_weight_j),
        trace=trace, window_s=args.window_s, rate_rps=args.rate,
        mix=parse_mix(args.mix) if args.mix else None, replay_instance=replay,
        title=args.title, replay_json=args.replay_results,
        replay_prediction=args.replay_prediction)
    paths = plan(req, command=command_line(sys.argv[2:] if len(sys.argv) > 2 else []))
    print(f"greenllm recommend: wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0
