#!/usr/bin/env bash
# The real-GPU tests (tests/hardware: doctor, telemetry sampler, one vLLM cell in observe
# mode) on a lent GPU machine. Read-only: GREENLLM_GPU_READ_ONLY=1 (the tests force it
# too), no NVML setter is ever called. No network: the model folder is built locally
# from the 1.1B shape (dummy weights). Everything lands under OUT_DIR (~3 min, most of it
# vLLM's engine start).
#   tools/device/hardware-tests.sh "$OUT"
set -uo pipefail
OUT=${1:?usage: $0 OUT_DIR}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"
export GREENLLM_GPU_READ_ONLY=1 HF_HUB_OFFLINE=1 VLLM_USE_FLASHINFER_SAMPLER=0
export GREENLLM_STATE_DIR="$OUT/state"
PY=${PY:-python3}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,power.draw --format=csv > "$OUT/nvidia-smi.csv" 2>&1
"$PY" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)" 2>&1 | tee "$OUT/versions.txt"
timeout 570 "$PY" -m pytest -m "gpu or vllm" tests/hardware -p no:cacheprovider -ra -v \
  --basetemp "$OUT/pytest" --junitxml "$OUT/junit.xml" 2>&1 | tee "$OUT/hardware-tests.log"
echo "pytest exit: ${PIPESTATUS[0]}" | tee -a "$OUT/hardware-tests.log"
