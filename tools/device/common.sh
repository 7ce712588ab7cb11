# Sourced by the h100-part*.sh scripts: environment and helpers for a read-only GPU run.
set -uo pipefail
OUT=${1:?usage: $0 OUT_DIR}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"
export GREENLLM_GPU_READ_ONLY=1          # never call an NVML setter on the lent card
export VLLM_USE_FLASHINFER_SAMPLER=0
PY=${PY:-python3}
LOG="$OUT/$(basename "$0" .sh).log"
exec > >(tee -a "$LOG") 2>&1
step() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }
greenllm() { "$PY" -m greenllm.cli.main "$@"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,power.limit --format=csv || true
"$PY" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)" || true
