#!/usr/bin/env bash
# On the lent GPU (greenllm doctor in common.sh): GPU layer evidence (issue 2) and a vLLM measurement run (issue 3).
source "$(dirname "$0")/common.sh"
need_card

step "telemetry under a GPU load (30 s): counter vs instant-power integral"
timeout 90 "$PY" benchmarks/telemetry_under_load.py --duration-s 30 --out /tmp/telemetry_load.parquet

step "sampler cost and matmul throughput with/without the sampler"
timeout 150 "$PY" benchmarks/sampler_bench.py --backend nvml --workload-s 4 --repeats 5 --skip-python-loop

step "greenllm measure: vLLM, 1.1B Llama shape (dummy weights), observe mode, 3 workloads x 3 loads"
timeout ${MEASURE_TIMEOUT_S:-420} "$PY" -m greenllm.cli.main measure \
  gpu=$CARD out_dir=results/raw/${CARD_ID}_llama-1b_tp1_b64 model=llama-1b model.path=results/models/llama-1b \
  engine=vllm clocks=observe instance=tp1 'workload.ids=[S-S,M-M,L-L]' \
  'load.points=[low,medium,high]' load.requests_per_point=120 load.min_duration_s=6 \
  load.max_duration_s=20 search=smoke search.max_probes=5 search.requests_per_probe=80 \
  search.probe_min_duration_s=4 search.probe_max_duration_s=12 engine.startup_timeout_s=400
echo "measure exit: $?"
step "pack"
cp /tmp/telemetry_load.parquet results/ 2>/dev/null
tar czf "$OUT/gpu-layer-and-measure-results.tgz" results/raw results/telemetry_load.parquet 2>/dev/null
ls -la "$OUT"
