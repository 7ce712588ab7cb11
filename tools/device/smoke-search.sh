#!/usr/bin/env bash
# On the lent GPU (issue 13): does the smoke preset's max-throughput search find a rate
# for the 1.1B Llama shape? `greenllm measure` with the smoke preset's groups
# (search=smoke: 10 probes, 120 s; load=smoke; slo=paper, 3x the alone latency), max
# batch 64, S-S/M-M/L-L, observe mode. Each cell's status says whether its search found a
# max (ok) or not (no_max_throughput); the run's last line warns when any did not
# (docs/measure.md); the table at the end lists every search's probes.
# ENGINE=sim CARD=h200 runs it on the simulator (a dry run of the script, no GPU).
source "$(dirname "$0")/common.sh"
need_card
step "smoke search: 1.1B shape, max batch 64, search=smoke (docs/load.md)"
timeout "${MEASURE_TIMEOUT_S:-540}" "$PY" -m greenllm.cli.main measure gpu=$CARD \
  out_dir=results/raw/${CARD_ID}_smoke_llama-1b_tp1_b64 model=llama-1b \
  model.path=results/models/llama-1b engine=${ENGINE:-vllm} clocks=observe instance=tp1 \
  workload=smoke load=smoke search=smoke slo=paper engine.startup_timeout_s=400
echo "measure exit: $?"
step "what each search found"
"$PY" - <<'PY'
import json
import pathlib

for p in sorted(pathlib.Path("results/raw").glob("*_smoke_llama-1b_tp1_b64/cells/*/*/summary.json")):
    s = json.loads(p.read_text())
    mt = s.get("max_throughput") or {}
    rates = " -> ".join(f"{q['rate_rps']:.3g}{'' if q['meets_slo'] else 'x'}"
                        for q in mt.get("probes") or [])
    print(f"{p.parent.name}: status {s['status']}, max {mt.get('rps')} req/s, "
          f"stop {mt.get('stop_reason')}, flags {mt.get('flags')}, probes {rates}")
PY
step "pack"
tar czf "$OUT/smoke-search-results.tgz" results/raw 2>/dev/null
ls -la "$OUT"
