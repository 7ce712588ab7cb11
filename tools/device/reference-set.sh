#!/usr/bin/env bash
# On the lent GPU: reference dataset for simulator calibration (issue 6): a 7B shape
# at max batch 64, and the 1.1B shape at smaller max batch sizes (observe mode).
source "$(dirname "$0")/common.sh"
need_card
COMMON=(engine=vllm clocks=observe instance=tp1 'load.points=[low,medium]'
  load.requests_per_point=100 load.min_duration_s=5 load.max_duration_s=15 search=smoke
  search.max_probes=5 search.requests_per_probe=60 search.probe_min_duration_s=3
  search.probe_max_duration_s=10 engine.startup_timeout_s=300)

step "7B shape, max batch 64"
timeout ${T7B:-330} "$PY" -m greenllm.cli.main measure gpu=$CARD out_dir=results/raw/${CARD_ID}_llama2-7b_tp1_b64 \
  model=llama2-7b model.path=results/models/llama2-7b 'workload.ids=[S-S,M-M,L-L]' "${COMMON[@]}"
echo "exit: $?"
for b in 16 4; do
  step "1.1B shape, max batch $b"
  timeout ${TB:-130} "$PY" -m greenllm.cli.main measure gpu=$CARD out_dir=results/raw/${CARD_ID}_llama-1b_tp1_b$b \
    model=llama-1b model.path=results/models/llama-1b instance.max_batch=$b 'workload.ids=[M-M]' "${COMMON[@]}"
  echo "exit: $?"
done
step "pack"
tar czf "$OUT/reference-set-results.tgz" results/raw 2>/dev/null
ls -la "$OUT"
