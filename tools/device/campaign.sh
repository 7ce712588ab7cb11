#!/usr/bin/env bash
# One instance's grid on the lent GPU (any card doctor names), fixed vs adaptive repeats (issue 18), observe mode
# only (GREENLLM_GPU_READ_ONLY=1 from common.sh: no setter is ever called), one vLLM start.
#
# 1.1B Llama shape (dummy weights), max batch 64, 3 workloads (S-S, M-M, L-L) x 2 loads
# (low, medium), today's fixed policy: 5 repeats, cold max-throughput search. The
# adaptive policy is replayed on the same repeats (greenllm.measure.adaptive_replay:
# repeat r is the same measurement under both policies, so the adaptive run is the
# first k repeats of each cell), giving both policies' intervals and spend from one
# engine start. The warm search's first prior (the simulator's prediction of each
# cell's capacity, calibrated on the H100) is printed beside the measured bracket.
#
#   bash tools/device/campaign.sh "$OUT"          # ~5-6 min, one vLLM start
#   ENGINE=sim bash tools/device/campaign.sh OUT  # the same on the simulator (CI)
#   TAG=drawn EXTRA=load.exact_rate=false bash tools/device/campaign.sh "$OUT"
#                                                 # Poisson schedules as drawn (the default
#                                                 # before 2026-12-07: every window at exactly
#                                                 # its nominal rate now)
#   TAG=starts EXTRA=load.engine_starts=3 REPEATS=6 MEASURE_TIMEOUT_S=560 \
#     bash tools/device/campaign.sh "$OUT"        # the repeats over 3 vLLM starts (2 each):
#                                                 # within-start vs start-to-start spread in
#                                                 # $OUT/start-offsets-starts.txt (~8 min)
#
# Writes $OUT/campaign-results$SFX.tgz (raw cells, spend.json), $OUT/replay$SFX.json,
# $OUT/prior$SFX.txt (SFX: -$TAG, empty without TAG) and the log. A run cut by the time
# limit resumes at its next repeat.
source "$(dirname "$0")/common.sh"
ENGINE=${ENGINE:-vllm}
# TAG=drawn names a second run beside the first (e.g. with EXTRA=load.exact_rate=false)
RAW=results/raw/${CARD_ID:-h200}_llama-1b_tp1_b64_campaign${TAG:+_$TAG}  # h100_… on an H100
SFX=${TAG:+-$TAG}
ARGS=(out_dir=$RAW ${CARD:+gpu=$CARD} model=llama-1b model.path=$PWD/results/models/llama-1b engine=$ENGINE
  clocks=observe instance=tp1 instance.max_batch=64 'workload.ids=[S-S,M-M,L-L]'
  'load.points=[low,medium]' load.repeats=${REPEATS:-5} load.requests_per_point=${REQ:-30}
  load.min_duration_s=${MIN_S:-3} load.max_duration_s=${MAX_S:-6} load.warmup_requests=4
  search=smoke search.warm_start=false search.max_probes=${PROBES:-5}
  search.requests_per_probe=40 search.probe_min_duration_s=3 search.probe_max_duration_s=6
  slo.baseline_requests=3 engine.startup_timeout_s=300 ${EXTRA:-})
step "greenllm measure (fixed: ${REPEATS:-5} repeats, cold search; observe mode, engine $ENGINE${EXTRA:+; $EXTRA})"
timeout "${MEASURE_TIMEOUT_S:-480}" "$PY" -m greenllm.cli.main measure "${ARGS[@]}"
echo "measure exit: $?"
step "spend (fixed run)"
cat "$RAW/spend.json" 2> /dev/null || echo "no spend.json (no engine start?)"
if [[ "${EXTRA:-}" == *engine_starts=* ]]; then
  step "the spread split into within a start and start to start (load.engine_starts)"
  "$PY" -m greenllm.analysis.start_offsets "$RAW" | tee "$OUT/start-offsets$SFX.txt"
fi
step "adaptive repeats replayed on the same repeats (each load point on its own, the default)"
"$PY" -m greenllm.measure.adaptive_replay "$RAW" --json "$OUT/replay$SFX.json"
step "the same, each cell waiting for all its points (load.stop_per=cell)"
"$PY" -m greenllm.measure.adaptive_replay "$RAW" --stop-per cell  # in the log: $OUT holds 8 files
step "warm-search prior (simulator prediction) vs the measured bracket"
"$PY" - "$RAW" <<'PY' | tee "$OUT/prior$SFX.txt"
import json, sys
from pathlib import Path
from greenllm.load import workload_from
from greenllm.measure.warm_prior import predicted_prior
from greenllm.search.slo import Slo
for path in sorted(Path(sys.argv[1]).rglob("cells/*/*/summary.json")):
    s = json.loads(path.read_text())
    mt, slo = s.get("max_throughput") or {}, s["slo"]
    w = workload_from(s["workload"]["id"])
    prior = predicted_prior("llama-1b", 1, 64, w.input_tokens, w.output_tokens, None,
                            Slo(slo["ttft_s"], slo["tbt_s"], slo["percentile"]))
    print(f"{w.id}: measured [{mt.get('lower_rps')}, {mt.get('upper_rps')}) req/s in "
          f"{len(mt.get('probes') or [])} probes; simulator prior "
          f"{prior.centre_rps if prior else None}")
PY
step "pack"
tar czf "$OUT/campaign-results$SFX.tgz" "$RAW" 2> /dev/null
ls -la "$OUT"
