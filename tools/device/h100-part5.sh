#!/usr/bin/env bash
# Part 5 on the H100 (issue 6): more of the reference dataset, at full repeats (5, as the
# paper preset), observe mode. RUN picks the instance:
#   RUN=b16 | RUN=b4   1.1B Llama shape at max batch 16 or 4, M-M at low/medium/high
#   RUN=13b            Llama-2-13B shape at max batch 64, S-S/M-M/L-L at low/medium
# Repeats are interleaved over cells (pass 1 = repeat 1 of every cell, …), so a run cut by
# the time limit still has every cell; a rerun on the same machine resumes at the next
# repeat (results/ persists while the machine is warm).
source "$(dirname "$0")/common.sh"
RUN=${RUN:?RUN=b16, b4 or 13b}
COMMON=(engine=vllm clocks=observe instance=tp1 load.repeats=5 load.min_duration_s=4
  load.max_duration_s=12 search=smoke search.max_probes=6 search.requests_per_probe=60
  search.probe_min_duration_s=3 search.probe_max_duration_s=10 engine.startup_timeout_s=300)
case $RUN in
  b16|b4) ARGS=(out_dir=results/raw/h100_llama-1b_tp1_$RUN model=llama-1b
            model.path=results/models/llama-1b instance.max_batch=${RUN#b} 'workload.ids=[M-M]'
            'load.points=[low,medium,high]' load.requests_per_point=80) ;;
  13b) ARGS=(out_dir=results/raw/h100_llama2-13b_tp1_b64 model=llama2-13b
         model.path=results/models/llama2-13b 'workload.ids=[S-S,M-M,L-L]'
         'load.points=[low,medium]' load.requests_per_point=60) ;;
  *) echo "unknown RUN=$RUN"; exit 2 ;;
esac
step "greenllm measure $RUN (repeats 5, observe mode)"
timeout "${MEASURE_TIMEOUT_S:-520}" "$PY" -m greenllm.cli.main measure "${ARGS[@]}" "${COMMON[@]}"
echo "measure exit: $?"
step "pack"
tar czf "$OUT/part5-$RUN-results.tgz" results/raw 2>/dev/null
ls -la "$OUT"
