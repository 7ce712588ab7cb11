#!/usr/bin/env bash
# Energy attribution on the lent GPU (issue 17; any one-GPU card doctor names), observe mode ONLY: GREENLLM_GPU_READ_ONLY=1
# (common.sh) and clocks=observe, so no NVML setter is ever called. vLLM 0.26, the 1.1B
# Llama shape with dummy weights, max batch 64, two workloads that stress the phases
# differently: S-L (100 -> 256 tokens, decode-heavy) and L-S (1024 -> 50, prefill-heavy),
# each at two absolute rates (no max-throughput search, so the time is known: ~65-100 s
# engine start + ~2.5 min of load). Per cell: an idle window at the card's own clock
# (IDLE_S), the energy of every load point split into idle / prefill pending / decode only
# (request timeline), host CPU+DRAM energy by RAPL where readable. Writes under $OUT:
# the log, doctor.txt, attribution-results.tgz (raw cells, table, figure) and
# attribution-summary.txt (the numbers to compare with the 137-300 W decode draw).
#
#   bash tools/device/attribution.sh "$OUT"
#   ENGINE=sim bash tools/device/attribution.sh /tmp/out   # the same on the simulator
ENGINE=${ENGINE:-vllm}
# No NVML card to name on the simulator: set before common.sh, which derives CARD_ID from it.
if [ "$ENGINE" = sim ]; then CARD=${CARD:-h200}; fi
source "$(dirname "$0")/common.sh"
need_card
RATES=${RATES:-[2,12]}
WINDOW_S=${WINDOW_S:-20}
IDLE_S=${IDLE_S:-5}
RAW=results/raw/${CARD_ID}_attribution_llama-1b_tp1_b64_$ENGINE  # h100_… on an H100
step "greenllm measure ($ENGINE, observe mode): S-L and L-S at $RATES req/s, ${WINDOW_S} s windows"
timeout "${MEASURE_TIMEOUT_S:-420}" "$PY" -m greenllm.cli.main measure \
  out_dir=$RAW gpu=$CARD model=llama-1b model.path=results/models/llama-1b engine=$ENGINE clocks=observe \
  instance=tp1 instance.max_batch=64 'workload.ids=[S-L,L-S]' 'load.points=[]' \
  "load.rates_rps=$RATES" load.requests_per_point=10 load.min_duration_s=$WINDOW_S \
  load.max_duration_s=$WINDOW_S load.warmup_requests=8 load.repeats=1 slo.baseline_requests=3 \
  attribution.idle_window_s=$IDLE_S engine.startup_timeout_s=300
echo "measure exit: $?"

step "aggregate, energy-breakdown figure, summary"
greenllm aggregate --cells "$RAW" --out results/tables/attribution.parquet
for load in $(echo "$RATES" | tr -d '[] ' | tr ',' ' '); do
  greenllm figure energy_breakdown --table results/tables/attribution.parquet \
    --study "{\"name\": \"workload\", \"tp\": 1, \"max_batch\": 64, \"workloads\": [\"S-L\", \"L-S\"], \"load\": \"r$load\", \"model\": \"llama-1b\"}" \
    --out "results/figures/energy_breakdown_r$load.pdf"
done
"$PY" - "$RAW" > "$OUT/attribution-summary.txt" <<'PYEOF'
import json, sys
from pathlib import Path
import pandas as pd
from greenllm.analysis.aggregate import read_cells
raw = Path(sys.argv[1])
print(f"cells in {raw}")
for p in sorted((raw / "idle_power").glob("*.json")):
    r = json.loads(p.read_text())
    print(f"idle power at {r['label']}: {r['power_w']:.1f} W over {r['window_s']:.1f} s, "
          f"SM clock p50 {r['sm_clock_mhz'].get('p50')} MHz, flags {r['flags']}")
t = read_cells([raw]).table
cols = ["workload_id", "load_point", "rate_rps", "throughput_rps", "window_s", "energy_j",
        "energy_split_scale", "idle_power_w", "idle_s", "prefill_s", "decode_s",
        "power_mean_w", "power_prefill_mean_w", "power_decode_mean_w", "power_max_w",
        "energy_idle_j", "energy_prefill_j", "energy_decode_j", "energy_per_output_token_j",
        "sm_clock_mean_mhz", "throttle_reasons", "flags", "host_energy_status",
        "host_energy_j", "host_power_mean_w", "host_energy_scope", "simulated"]
pd.set_option("display.width", 200)
pd.set_option("display.max_colwidth", 80)
print(t[[c for c in cols if c in t.columns]].T.to_string())
PYEOF
cat "$OUT/attribution-summary.txt"
step "pack"
tar czf "$OUT/attribution-results.tgz" "$RAW" results/tables/attribution* results/figures/energy_breakdown_r* 2>/dev/null
ls -la "$OUT"
