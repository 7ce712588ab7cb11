#!/usr/bin/env bash
# The same absolute load measured under several conventions ("arms"), one greenllm measure
# run (one vLLM start) each, observe mode only (GREENLLM_GPU_READ_ONLY=1 from common.sh).
# 1.1B Llama shape (dummy weights), max batch 64, M-M at RATES (default 6 and 16 req/s), no
# search; per arm (issue 18):
#   exact  every window at exactly its nominal rate (the default), 60 requests, 5 repeats
#   drawn  the Poisson schedule as drawn (load.exact_rate=false), 60 requests, 5 repeats
#   short  exact, windows a quarter as long (15 requests), 20 repeats: the same GPU time
#          as 5 full ones, so a quarter-length window's bias and spread can be seen
#   half   exact, windows half as long (30 requests), 10 repeats: the same for the half
#          windows of the 37 % campaign mode (docs/campaign.md)
#
#   bash tools/device/same-rate-arms.sh "$OUT"                # exact drawn short, ~9 min
#   ARMS="exact short" bash tools/device/same-rate-arms.sh "$OUT"
#   ARMS="exact half" bash tools/device/same-rate-arms.sh "$OUT"   # ~8 min
#   ENGINE=sim ARMS=short bash tools/device/same-rate-arms.sh OUT   # on the simulator
#   ARMS="exact half exact2 half2 exact3" ...   # A B A B A: a digit after an arm's name
#       starts it again (its own vLLM start and folder, arm_<name><digit>), so start-to-start
#       noise can be told from the convention (benchmarks/same_rate_arms.py NAME=RAW,RAW)
#   RERUN_CHECK=1 ...   # then a copy of the first arm's folder is measured again under other
#       settings (the schedules flipped between exact and drawn, 1 repeat; one more vLLM start):
#       its cells must move to superseded/<time>/ and be measured afresh, not resumed
#       (greenllm.measure.measured_settings); $OUT/rerun-check.txt says which
#
# Then, here or there: python benchmarks/same_rate_arms.py RAW_exact RAW_drawn RAW_short
# Writes $OUT/same-rate-arms-<arms>.tgz (cell summaries, request tables, spend.json, engine log
# per arm; no telemetry), the side-by-side table ($OUT/same-rate-arms-<arms>.txt) and the log.
source "$(dirname "$0")/common.sh"
ENGINE=${ENGINE:-vllm}
[ "$ENGINE" = sim ] || need_card
M=$PWD/results/models/llama-1b  # absolute: vLLM reuses its compile cache
RATES=${RATES:-6,16}
ARMS=${ARMS:-exact drawn short}
TAG=${ARMS// /-}  # names this call's files: several calls may each run some arms
FULL=(load.repeats=5 load.requests_per_point=60 load.min_duration_s=3 load.max_duration_s=15)
measure_arm() {  # RAW OVERRIDE...: one greenllm measure run (one vLLM start)
  local raw=$1; shift
  timeout "${ARM_TIMEOUT_S:-280}" "$PY" -m greenllm.cli.main measure out_dir=$raw \
    ${CARD:+gpu=$CARD} model=llama-1b model.path=$M engine=$ENGINE clocks=observe \
    instance=tp1 instance.max_batch=64 'workload.ids=[M-M]' 'load.points=[]' \
    "load.rates_rps=[$RATES]" load.warmup_requests=4 slo.baseline_requests=3 \
    engine.startup_timeout_s=300 "$@" ${EXTRA:-}
}
RAWS=()
for token in $ARMS; do
  arm=${token%%[0-9]*}  # exact2 -> exact: the same arm, started again
  case $arm in
    exact) X=(load.exact_rate=true "${FULL[@]}") ;;
    drawn) X=(load.exact_rate=false "${FULL[@]}") ;;
    short) X=(load.exact_rate=true load.repeats=20 load.requests_per_point=15
              load.min_duration_s=0.75 load.max_duration_s=3.75) ;;
    half) X=(load.exact_rate=true load.repeats=10 load.requests_per_point=30
             load.min_duration_s=1.5 load.max_duration_s=7.5) ;;
    *) echo "unknown arm $token (exact, drawn, short, half; a digit may follow)"; exit 2 ;;
  esac
  RAW=results/raw/${CARD_ID:-sim}_llama-1b_tp1_b64_arm_$token
  RAWS+=("$RAW")
  step "arm $token: M-M at [$RATES] req/s, ${X[*]} (engine $ENGINE)"
  measure_arm "$RAW" "${X[@]}"
  echo "arm $token exit: $?"
done
step "arms side by side"
"$PY" benchmarks/same_rate_arms.py "${RAWS[@]}" | tee "$OUT/same-rate-arms-$TAG.txt"
PACK=("${RAWS[@]}")
if [ -n "${RERUN_CHECK:-}" ]; then
  FIRST=${RAWS[0]}; RERUN=${FIRST}_rerun
  case ${ARMS%% *} in drawn*) FLIP=true ;; *) FLIP=false ;; esac
  step "rerun check: a copy of $FIRST measured again with load.exact_rate=$FLIP, 1 repeat"
  rm -rf "$RERUN" && cp -r "$FIRST" "$RERUN"
  measure_arm "$RERUN" load.exact_rate=$FLIP load.repeats=1 load.requests_per_point=60 \
    load.min_duration_s=3 load.max_duration_s=15
  echo "rerun exit: $?"
  "$PY" - "$FIRST" "$RERUN" <<'PY' | tee "$OUT/rerun-check.txt"
import json, sys
from pathlib import Path
first, rerun = Path(sys.argv[1]), Path(sys.argv[2])
aside = sorted(rerun.glob("superseded/*/cells/*/*/summary.json"))
print(f"set aside under {rerun}/superseded: {len(aside)} cell(s)")
for path in sorted(rerun.glob("cells/*/*/summary.json")):
    s = json.loads(path.read_text())
    before = json.loads((first / path.relative_to(rerun)).read_text())
    n = lambda summ: summ.get("repeats_done")
    rate = lambda summ: summ["measured_settings"]["values"]["load"].get("exact_rate")
    print(f"{path.parent.relative_to(rerun)}: exact_rate {rate(before)} -> {rate(s)}; repeats "
          f"{n(before)} -> {n(s)} ({'measured afresh' if n(s) < n(before) else 'RESUMED'})")
PY
  PACK+=("$RERUN")
fi
step "pack (summaries, request tables, spend, engine log; no telemetry)"
tar czf "$OUT/same-rate-arms-$TAG.tgz" --exclude='telemetry*.parquet' "${PACK[@]}" 2> /dev/null
ls -la "$OUT"
