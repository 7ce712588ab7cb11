#!/usr/bin/env bash
# On the lent GPU: one vLLM server (MODEL_ID, default the 1.1B Llama shape; dummy
# weights, max batch 64) shared by several client runs. Every run is saved as it ends.
#   SECTIONS="ab"        (issue 3) greenllm's streaming client vs `vllm bench serve`: same
#                        workload, rate, count and arrival times, interleaved A B B A …
#                        (drift falls on both alike); no round starts after AB_DEADLINE_S.
#   SECTIONS="overhead"  (issue 6) what greenllm's telemetry sampler costs vLLM's
#                        throughput: a closed loop of OVH_CONC requests in flight for
#                        OVH_DURATION_S, the sampler switched off and on in PHASE_S phases,
#                        each on phase's generated tokens (vLLM's own counter) compared
#                        with the off phases either side (benchmarks/sampler_vllm_overhead.py).
#                        OVH_LOAD=waves: instead, waves of WAVE_N (64) identical requests
#                        sent at once, again and again, the sampler on in every other wave.
#   SECTIONS="mixed"     (issue 6, calibration) the cost of an engine step that mixes a
#                        prefill into MIXED_BG (8) decodes, per prompt length, either side
#                        of the CUDA-graph capture size (benchmarks/mixed_step_probe.py).
# If `vllm bench serve` cannot run here, "ab" is skipped and "overhead" runs instead.
source "$(dirname "$0")/common.sh"
MODEL_ID=${MODEL_ID:-llama-1b}
MODEL=results/models/$MODEL_ID
URL=http://127.0.0.1:8000
SECTIONS=${SECTIONS:-ab}
WL=${WL:-M-M} RATE=${RATE:-8} N=${N:-120} ROUNDS=${ROUNDS:-6}
CLIENT="$PY benchmarks/compare_ab.py greenllm --base-url $URL --model $MODEL_ID --workload $WL"
BENCH="$PY benchmarks/compare_ab.py vllm-bench --base-url $URL --model $MODEL_ID \
  --tokenizer $MODEL --workload $WL --result-dir $OUT/vllm-bench-results"

step "model folder"
greenllm download --model "$MODEL_ID" --dest "$MODEL"
step "vllm serve ($MODEL_ID shape, max-num-seqs 64)"
start_vllm "$MODEL" "$MODEL_ID" 64 8000 || exit 1

if [[ $SECTIONS == *ab* ]]; then
  step "can vllm bench serve run? (4 requests)"
  if $BENCH --rate 4 -n 4 --seed 999; then
    step "A/B: greenllm client vs vllm bench serve, $WL at $RATE req/s, $N requests, $ROUNDS rounds"
    "$PY" benchmarks/compare_ab.py --rounds "$ROUNDS" --order ABBA \
      --deadline-s "${AB_DEADLINE_S:-270}" --label-a greenllm --label-b vllm-bench --timeout 150 \
      --a "$CLIENT --rate $RATE -n $N --seed {round}" \
      --b "$BENCH --rate $RATE -n $N --seed {round}" --json "$OUT/ab-$WL-r$RATE.json"
    echo "compare_ab exit: $?"
  else
    echo "vllm bench serve failed: running the overhead section instead"
    SECTIONS="$SECTIONS overhead"
  fi
fi

if [[ $SECTIONS == *overhead* ]]; then
  OVH_LOAD=${OVH_LOAD:-closed}
  if [[ $OVH_LOAD == waves ]]; then
    LOAD_ARGS="--load waves --wave-n ${WAVE_N:-64}"
    step "sampler overhead: $WL, waves of ${WAVE_N:-64} identical requests for ${OVH_DURATION_S:-300} s, sampler on in every other wave"
  else
    LOAD_ARGS="--load closed --concurrency ${OVH_CONC:-80} --phase-s ${PHASE_S:-5}"
    step "sampler overhead: $WL, closed loop of ${OVH_CONC:-80} for ${OVH_DURATION_S:-300} s, phases of ${PHASE_S:-5} s"
  fi
  timeout "${OVERHEAD_TIMEOUT_S:-420}" "$PY" benchmarks/sampler_vllm_overhead.py --base-url $URL \
    --model "$MODEL_ID" --workload "$WL" $LOAD_ARGS \
    --duration-s "${OVH_DURATION_S:-300}" --settle-s "${SETTLE_S:-20}" \
    --json "$OUT/overhead-$OVH_LOAD-$MODEL_ID-$WL.json" ${OVH_ARGS:-}
  echo "overhead exit: $?"
  curl -s "$URL/metrics" | grep -E "^vllm:(generation_tokens|num_preemptions|request_success)" \
    > "$OUT/overhead-vllm-metrics.txt" || true
fi
if [[ $SECTIONS == *mixed* ]]; then
  step "mixed-step probe: what a prefill joining ${MIXED_BG:-8} decoding requests costs a step"
  timeout "${MIXED_TIMEOUT_S:-300}" "$PY" benchmarks/mixed_step_probe.py --base-url $URL \
    --model "$MODEL_ID" --background "${MIXED_BG:-8}" --interval-s 0.15 ${MIXED_ARGS:-} \
    --json "$OUT/mixed-step-$MODEL_ID.json" --raw-dir "$OUT/mixed-raw-$MODEL_ID"
  echo "mixed-step probe exit: $?"
  tar czf "$OUT/mixed-raw-$MODEL_ID.tgz" -C "$OUT" "mixed-raw-$MODEL_ID" && rm -r "$OUT/mixed-raw-$MODEL_ID"
fi
stop_vllm
# The device tool returns at most 8 files: vLLM's per-run JSONs travel as one tarball.
[ -d "$OUT/vllm-bench-results" ] && tar czf "$OUT/vllm-bench-results.tgz" -C "$OUT" \
  vllm-bench-results && rm -r "$OUT/vllm-bench-results"
ls -la "$OUT"
