#!/usr/bin/env bash
# Issue 13 on any one-GPU card: why greenllm's client and `vllm bench serve` disagree on
# latency, by experiment. One vLLM server (MODEL_ID, default the 1.1B Llama shape; dummy
# weights, max batch 64, absolute model path so the compile cache is reused), left running
# in its own session so that a second call on the same warm machine reuses it
# (KEEP_SERVER=1). benchmarks/latency_gap.py then runs the arms ids / text / text_lean / text_plain /
# vllm in interleaved rounds at RATES (e.g. "7.9" in one call, "auto70" in the next),
# every run saved as it ends, and the report table is written beside them.
#   RATES=7.9 bash tools/device/latency-gap.sh "$OUT"
#   RATES=auto70 bash tools/device/latency-gap.sh "$OUT"     # same server, next call
#   PAIRED=1 ARMS=text,vllm RATES=7.9,auto70 ROUNDS=8 bash tools/device/latency-gap.sh "$OUT"
#       both arms at once each round, half the rate each (cancels the engine's own
#       run-to-run variation; benchmarks/latency_gap.py's module doc), arrival draws
#       crossed between the arms every second round (so an even ROUNDS)
#   FIRST_ROUND=8 TAG=7.9b PAIRED=1 ARMS=text,vllm RATES=7.9 ROUNDS=8 bash ...   # next call:
#       rounds 8-15 on the same server (new draws); report takes both gap-runs-*.json
source "$(dirname "$0")/common.sh"
MODEL_ID=${MODEL_ID:-llama-1b}
MODEL=$PWD/results/models/$MODEL_ID
URL=http://127.0.0.1:8000
WL=${WL:-M-M} RATES=${RATES:-7.9} N=${N:-120} ROUNDS=${ROUNDS:-5}
TAG=${TAG:-$(echo "$RATES" | tr ',' '_')}

if ! "$PY" -c "import urllib.request; urllib.request.urlopen('$URL/health', timeout=2)" 2> /dev/null; then
  step "model folder"
  [ -f "$MODEL/config.json" ] || greenllm download --model "$MODEL_ID" --dest "$MODEL"
  keep=${KEEP_SERVER:-1}
  if [ "$keep" = 1 ]; then fate="kept for the next call"; else fate="stopped at the end (KEEP_SERVER=0)"; fi
  step "vllm serve ($MODEL_ID shape, max-num-seqs 64), $fate"
  start_vllm "$MODEL" "$MODEL_ID" 64 8000 || exit 1
  [ "$keep" = 1 ] && trap - EXIT  # leave it up for the next call
else
  echo "reusing the vllm server already on $URL"
fi
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.mem,power.limit \
  --format=csv > "$OUT/gpu-$TAG.csv" 2>&1 || true

step "latency gap: $WL at $RATES req/s, arms ${ARMS:-ids,text,text_plain,vllm}, $ROUNDS rounds"
"$PY" benchmarks/latency_gap.py run --base-url "$URL" --model "$MODEL_ID" --tokenizer "$MODEL" \
  --workload "$WL" --rates "$RATES" -n "$N" --rounds "$ROUNDS" --first-round "${FIRST_ROUND:-0}" \
  --arms "${ARMS:-ids,text,text_plain,vllm}" --deadline-s "${GAP_DEADLINE_S:-330}" \
  ${PAIRED:+--paired} \
  --out "$OUT/gap-$TAG"
echo "latency_gap exit: $?"
"$PY" benchmarks/latency_gap.py report "$OUT/gap-$TAG/runs.json" --md "$OUT/gap-$TAG/table.md" || true
cp "$OUT/gap-$TAG/runs.json" "$OUT/gap-runs-$TAG.json"
tar czf "$OUT/gap-$TAG.tgz" -C "$OUT" "gap-$TAG" && rm -r "$OUT/gap-$TAG"
tail -5 "$OUT"/vllm-serve-*.log 2> /dev/null
ls -la "$OUT"
