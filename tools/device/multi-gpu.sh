#!/usr/bin/env bash
# Issue 19 on a multi-GPU H200 kind (nvidia-h200-x8 if lent, else the largest lent), observe
# mode only (GREENLLM_GPU_READ_ONLY=1 from common.sh). NOT RUN YET: multi-GPU kinds were
# withheld; tested with ENGINE=sim on simulated GPUs.
#   1. the TP study: TP 2/4/8 (TPS), M-M at medium load, every GPU of the instance sampled,
#      energy summed over them with the per-GPU spread in each load point's energy block;
#      NVLink multicast off in vLLM's and its workers' environment (measure/multi_gpu.py).
#   2. parallel instances: one TP2 instance alone on GPUs 0,1, in ALONE_STARTS (default 2)
#      vLLM starts, then N_PAR x TP2 side by side (greenllm.measure.parallel), and how each
#      side-by-side instance differs from the alone starts' mean (disturbance: TTFT, TBT,
#      power, J/token, max throughput), beside how far the alone starts differ among
#      themselves (a start moves latency 6-15 % on the lent H100: docs/uncertainty.md).
#
#   bash tools/device/multi-gpu.sh "$OUT"              # MODEL=llama2-70b GPUS=0,...,7
#   ENGINE=sim bash tools/device/multi-gpu.sh OUT      # the same on simulated GPUs
source "$(dirname "$0")/common.sh"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
ENGINE=${ENGINE:-vllm} MODEL=${MODEL:-llama2-70b} GPUS=${GPUS:-0,1,2,3,4,5,6,7}
TPS=${TPS:-2 4 8} N_PAR=${N_PAR:-4}
NGPU=$(echo "$GPUS" | tr ',' '\n' | wc -l)
COMMON=(model=$MODEL model.path=results/models/$MODEL engine=$ENGINE clocks=observe
  'workload.ids=[M-M]' 'load.points=[medium]' load.repeats=${REPEATS:-3}
  load.requests_per_point=60 load.min_duration_s=5 load.max_duration_s=15
  search=smoke search.max_probes=5 search.requests_per_probe=40 search.probe_min_duration_s=3
  search.probe_max_duration_s=8 slo.baseline_requests=3 engine.startup_timeout_s=900)
if [ "$ENGINE" = sim ]; then
  "$PY" -c "from greenllm.gpu.sim import SimGpu, SimGpuSpec; SimGpu.create('$PWD/results/node.state', $NGPU, SimGpuSpec.h100_sxm(), clock_permitted=False, settle_s=0.01).close()"
  COMMON+=(gpu.sim_node_state=$PWD/results/node.state)
fi
for tp in $TPS; do
  (( tp <= NGPU )) || { echo "TP$tp: only $NGPU GPUs, skipped"; continue; }
  step "TP study: TP$tp on GPUs $(echo "$GPUS" | cut -d, -f1-$tp)"
  timeout "${TP_TIMEOUT_S:-540}" "$PY" -m greenllm.cli.main measure \
    out_dir=results/raw/tp$tp "${COMMON[@]}" instance.tp=$tp \
    "instance.gpus=[$(echo "$GPUS" | cut -d, -f1-$tp)]"
  echo "TP$tp exit: $?"
done
for k in $(seq 1 "${ALONE_STARTS:-2}"); do
  step "parallel: TP2 alone on GPUs $(echo "$GPUS" | cut -d, -f1-2), start $k"
  timeout "${PAR_TIMEOUT_S:-540}" "$PY" -m greenllm.cli.main measure \
    out_dir=results/raw/alone/start$k "${COMMON[@]}" instance.tp=2 \
    "instance.gpus=[$(echo "$GPUS" | cut -d, -f1-2)]"
done
step "parallel: $N_PAR x TP2 side by side"
timeout "${PAR_TIMEOUT_S:-540}" "$PY" -m greenllm.measure.parallel --gpus "$GPUS" --tp 2 \
  --instances "$N_PAR" --out results/raw/side -- "${COMMON[@]}"
step "disturbance (side by side - alone) / alone, and the per-GPU energy spread"
"$PY" - <<'PY' | tee "$OUT/multi-gpu-findings.txt"
import json
from pathlib import Path
from greenllm.measure.parallel import disturbance, start_spread
alone = sorted(Path("results/raw/alone").glob("start*"))
for row in start_spread(alone):
    print(f"alone starts ({len(alone)}) SD/mean", json.dumps(row))
for inst in sorted(Path("results/raw/side").glob("i*")):
    for row in disturbance(alone, inst):
        print(inst.name, json.dumps(row))
for path in sorted(Path("results/raw").glob("tp*/cells/*/*/summary.json")):
    s = json.loads(path.read_text())
    for lp in s["load_points"]:
        e = lp.get("energy") or {}
        print(path.parts[2], "repeat", lp.get("repeat"), "J", e.get("energy_j"),
              "per GPU", e.get("per_gpu_energy_j"), "spread", e.get("per_gpu_spread"))
PY
step "pack"
tar czf "$OUT/multi-gpu-results.tgz" results/raw 2> /dev/null
ls -la "$OUT"
