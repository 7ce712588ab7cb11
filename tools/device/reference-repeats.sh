#!/usr/bin/env bash
# On the lent GPU (issue 6): more of the reference dataset, at full repeats (5, as the
# paper preset), observe mode. RUN picks the instance:
#   RUN=b16 | RUN=b4   1.1B Llama shape at max batch 16 or 4, M-M at low/medium/high
#   RUN=13b            Llama-2-13B shape at max batch 64, S-S/M-M/L-L at low/medium
#   RUN=long           1.1B at max batch 64, M-M and L-L at absolute rates (LONG_RATES)
#                      with ~60 s energy windows (LONG_S), one repeat, no search: the
#                      energy counter vs instant-power integral on long windows (issue 6)
# Repeats are interleaved over cells (pass 1 = repeat 1 of every cell, …), so a run cut by
# the time limit still has every cell; a rerun on the same machine resumes at the next
# repeat (results/ persists while the machine is warm).
source "$(dirname "$0")/common.sh"
need_card
RUN=${RUN:?RUN=b16, b4, 13b or long}
REPEATS=5 DURATION=(load.min_duration_s=4 load.max_duration_s=12)
case $RUN in
  b16|b4) ARGS=(out_dir=results/raw/${CARD_ID}_llama-1b_tp1_$RUN model=llama-1b
            model.path=results/models/llama-1b instance.max_batch=${RUN#b} 'workload.ids=[M-M]'
            'load.points=[low,medium,high]' load.requests_per_point=80) ;;
  13b) ARGS=(out_dir=results/raw/${CARD_ID}_llama2-13b_tp1_b64 model=llama2-13b
         model.path=results/models/llama2-13b 'workload.ids=[S-S,M-M,L-L]'
         'load.points=[low,medium]' load.requests_per_point=60) ;;
  long) ARGS=(out_dir=results/raw/${CARD_ID}_llama-1b_tp1_b64_long model=llama-1b
          model.path=results/models/llama-1b instance.max_batch=64 'workload.ids=[M-M,L-L]'
          'load.points=[]' "load.rates_rps=${LONG_RATES:-[5,12,20]}" load.requests_per_point=10)
        REPEATS=1 DURATION=(load.min_duration_s=${LONG_S:-60} load.max_duration_s=${LONG_S:-60}) ;;
  *) echo "unknown RUN=$RUN"; exit 2 ;;
esac
COMMON=(gpu=$CARD engine=vllm clocks=observe instance=tp1 load.repeats=$REPEATS "${DURATION[@]}"
  search=smoke search.max_probes=6 search.requests_per_probe=60 search.probe_min_duration_s=3
  search.probe_max_duration_s=10 engine.startup_timeout_s=300)
step "greenllm measure $RUN (repeats $REPEATS, observe mode)"
timeout "${MEASURE_TIMEOUT_S:-520}" "$PY" -m greenllm.cli.main measure "${ARGS[@]}" "${COMMON[@]}"
echo "measure exit: $?"
step "pack"
tar czf "$OUT/reference-repeats-$RUN-results.tgz" results/raw 2>/dev/null
ls -la "$OUT"
