#!/usr/bin/env bash
# Issue 16, real-GPU check: does the planner predict the energy of a trace replay?
# Observe mode only (GREENLLM_GPU_READ_ONLY=1, clocks=observe: no setting of the card is
# ever changed). 1B Llama shape with dummy weights on vLLM 0.26, TP1, max batch 64.
#   PART=cells   measure the cell the planner needs: one workload of the segment's mean
#                lengths at absolute rates RATES that span the segment's per-window rates
#                (16-25 req/s at the defaults), x 3 repeats, no search (~4 min with the
#                engine start). A search under the 3x-alone SLO of a 1B model can end
#                with nothing on this card (issue 13) and leave the planner no cell; the
#                check is of energy, so it needs points at the trace's rates, not a
#                capacity. SEARCH=1 measures max throughput and low/medium/high instead.
#                The planner counts only points whose SLO holds: SLO_SCALE (default 10x
#                the alone latency) keeps points that a 3x SLO would drop in the prediction.
#   PART=trace   replay the time-compressed trace segment (~2.5 min of traffic) (~6 min)
#   PART=compare aggregate, greenllm recommend on the segment for this configuration,
#                and the measured energy vs the prediction (seconds, no GPU)
#   PART=all     the three in one call (only where the 10-minute limit allows)
# Everything lands under $OUT (results tarball, plan, check.json/.md, logs). Results stay
# in results/raw/trace-check between calls on a warm machine.
# Test it without a GPU: ENGINE=sim PART=all bash tools/device/trace-check.sh /tmp/out
source "$(dirname "$0")/common.sh"
PART=${PART:-all}
ENGINE=${ENGINE:-vllm}
TRACE=${TRACE:-data/traces/AzureLLMInferenceTrace_conv.csv}
START_S=${START_S:-1200}            # trace seconds: minutes 20-35 of the conversation trace
DURATION_S=${DURATION_S:-900}
TIME_SCALE=${TIME_SCALE:-6}         # 15 minutes in 2.5
RATE_SCALE=${RATE_SCALE:-0.5}       # ~16 req/s on the card
CONTEXT=${CONTEXT:-2048}
RAW=${RAW:-results/raw/trace-check}
if [ "$ENGINE" = sim ]; then export GREENLLM_STATE_DIR="$RAW/state"; fi
COMMON=(${CARD:+gpu=$CARD} model=llama-1b model.path=results/models/llama-1b engine=$ENGINE clocks=observe
  instance=tp1 instance.max_batch=64 engine.max_model_len=$CONTEXT engine.startup_timeout_s=300)
read -r WL_IN WL_OUT < <("$PY" - "$TRACE" "$START_S" "$DURATION_S" "$TIME_SCALE" "$RATE_SCALE" "$CONTEXT" <<'PYEOF'
import sys
from greenllm.load.trace import TraceSpec, load_trace
t = load_trace(TraceSpec(sys.argv[1], start_s=float(sys.argv[2]), duration_s=float(sys.argv[3]),
                         time_scale=float(sys.argv[4]), rate_scale=float(sys.argv[5]),
                         max_context_tokens=int(sys.argv[6])))
print(round(float(t.input_tokens.mean())), round(float(t.output_tokens.mean())))
PYEOF
)
echo "segment mean lengths: $WL_IN -> $WL_OUT tokens"
TRACE_ARGS=(workload=trace workload.trace.path=$TRACE workload.trace.name=azure-conv-segment
  workload.trace.start_s=$START_S workload.trace.duration_s=$DURATION_S
  workload.trace.time_scale=$TIME_SCALE workload.trace.rate_scale=$RATE_SCALE)

if [[ $PART == cells || $PART == all ]]; then
  step "cells: the segment's mean workload ($WL_IN -> $WL_OUT), observe mode"
  if [ "${SEARCH:-0}" = 1 ]; then
    LOAD=('load.points=[low,medium,high]' search=smoke search.max_probes=10
      search.requests_per_probe=60 search.probe_min_duration_s=3 search.probe_max_duration_s=10)
  else
    LOAD=('load.points=[]' "load.rates_rps=${RATES:-[12,18,24,30]}")
  fi
  timeout "${CELLS_TIMEOUT_S:-520}" "$PY" -m greenllm.cli.main measure out_dir=$RAW/cells \
    "${COMMON[@]}" "workload.ids=[{id:seg-mean,input_tokens:$WL_IN,output_tokens:$WL_OUT}]" \
    "${LOAD[@]}" load.repeats=3 load.requests_per_point=150 load.warmup_requests=8 \
    load.min_duration_s=6 load.max_duration_s=10
  echo "cells exit: $?"
fi
if [[ $PART == trace || $PART == all ]]; then
  step "trace: ${DURATION_S} s of $TRACE from $START_S s, x$TIME_SCALE time, x$RATE_SCALE rate"
  timeout "${TRACE_TIMEOUT_S:-520}" "$PY" -m greenllm.cli.main measure out_dir=$RAW/trace \
    "${COMMON[@]}" "${TRACE_ARGS[@]}" load.repeats=1 load.warmup_requests=4
  echo "trace exit: $?"
fi
if [[ $PART == compare || $PART == all ]]; then
  step "compare: the planner's prediction for this configuration vs the measured replay"
  W="$RAW/compare"; mkdir -p "$W"
  greenllm aggregate --cells $RAW/cells --out "$W/cells.parquet"
  greenllm recommend --table "$W/cells.parquet" --out "$W/plan.md" --trace "$TRACE" \
    --trace-start-s "$START_S" --trace-duration-s "$DURATION_S" --time-scale "$TIME_SCALE" \
    --rate-scale "$RATE_SCALE" --max-context "$CONTEXT" --window-s 60 --n-gpus 1 \
    --slo-scale "${SLO_SCALE:-10}" \
    --replay-instance 1,64 --title "Planner prediction for the ${CARD_ID:-simulated} trace check"
  "$PY" -m greenllm.recommend.prediction_check --replay $RAW/trace \
    --prediction "$W/plan.prediction.json" --out "$W/check.json"
  echo "compare exit: $?"
  cp "$W/plan.md" "$W/check.json" "$W/check.md" "$OUT/" 2>/dev/null
fi
step "pack"
# The device tool returns at most 8 files: everything else travels in one tarball.
tar czf "$OUT/trace-check-results.tgz" --exclude=state $RAW 2>/dev/null
ls -la "$OUT"
