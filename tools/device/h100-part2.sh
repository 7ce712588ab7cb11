#!/usr/bin/env bash
# Part 2 on the H100: one vLLM server (1.1B Llama shape, dummy weights, max batch 64)
# shared by interleaved client runs (A B B A …, so drift falls on both alike). Every run
# is saved as it ends ($OUT/*.runs.json); no round starts after each DEADLINE.
#   SECTIONS="ab"        (issue 3) greenllm's streaming client vs `vllm bench serve`:
#                        same workload, rate and count.
#   SECTIONS="overhead"  (issue 6) what greenllm's telemetry sampler costs vLLM: the
#                        server kept saturated, greenllm's client alone (A) vs with the
#                        NVML sampler at its default 20 ms period in the same process, as
#                        in a measure run (B); B also reports its energy counter delta vs
#                        the instant-power integral.
# If `vllm bench serve` cannot run here, "ab" is skipped and "overhead" runs instead.
source "$(dirname "$0")/common.sh"
MODEL=results/models/llama-1b
URL=http://127.0.0.1:8000
SECTIONS=${SECTIONS:-ab}
WL=${WL:-M-M} RATE=${RATE:-8} N=${N:-120} ROUNDS=${ROUNDS:-6}
CLIENT="$PY benchmarks/compare_ab.py greenllm --base-url $URL --model llama-1b --workload $WL"
BENCH="$PY benchmarks/compare_ab.py vllm-bench --base-url $URL --model llama-1b \
  --tokenizer $MODEL --workload $WL --result-dir $OUT/vllm-bench-results"

step "model folder"
greenllm download --model llama-1b --dest "$MODEL"
step "vllm serve (1.1B shape, max-num-seqs 64)"
start_vllm "$MODEL" llama-1b 64 8000 || exit 1

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
  SAT="$CLIENT --rate 400 -n ${SAT_N:-400} --seed {round}"
  step "warm-up (one saturated run, not counted)"
  $CLIENT --rate 400 -n 200 --seed 999 | tail -c 300; echo
  step "A/B: no sampler vs sampler 20 ms, $WL, ${SAT_N:-400} requests at once"
  "$PY" benchmarks/compare_ab.py --rounds "${SAT_ROUNDS:-10}" --order ABBA \
    --deadline-s "${OVERHEAD_DEADLINE_S:-300}" --label-a no-sampler --label-b sampler-20ms \
    --tolerance 0.005 --timeout 120 --metrics output_tok_s,throughput_rps \
    --a "$SAT" --b "$SAT --sampler-period-ms 20" --json "$OUT/overhead-$WL.json"
  echo "compare_ab exit: $?"
fi
stop_vllm
# The device tool returns at most 8 files: vLLM's per-run JSONs travel as one tarball.
tar czf "$OUT/vllm-bench-results.tgz" -C "$OUT" vllm-bench-results && rm -r "$OUT/vllm-bench-results"
ls -la "$OUT"
