# Sourced by the tools/device/*.sh scripts: environment and helpers for a read-only GPU run.
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
# The card as greenllm sees it (NVML through the gpu layer, read-only under the guard above).
greenllm() { "$PY" -m greenllm.cli.main "$@"; }
greenllm doctor | tee "$OUT/doctor.txt" || true
# The card's greenllm GPU profile (h100-sxm, h200: config/measure/gpu/), from its NVML
# name as doctor matches it; CARD=<profile> overrides. Measure runs pass gpu=$CARD and
# name their folders ${CARD_ID}_… (h100_…, h200_…), so no script is tied to one card.
CARD=${CARD:-$(sed -n 's/^  greenllm profile: \([A-Za-z0-9_.+-]*\) (measure with.*/\1/p' \
  "$OUT/doctor.txt" | head -1)}
CARD_ID=${CARD%%-*}
echo "GPU profile: ${CARD:-none} (measure folders ${CARD_ID:-?}_…)"
need_card() {  # scripts that run greenllm measure call this first
  [ -n "$CARD" ] && return 0
  echo "no greenllm GPU profile matches this card (see doctor.txt): set CARD=<profile>"; exit 2
}
"$PY" -c "import vllm, torch; print('vllm', vllm.__version__, 'torch', torch.__version__)" || true

# A plain `vllm serve` of a weightless model folder, as greenllm's engine starts it
# (same flags: greenllm.engine.vllm.vllm_serve_argv), for the A/B and overhead benchmarks
# that need one server shared by several clients. Its own process group, stopped on exit.
SERVER_PGID=""
start_vllm() {  # MODEL_DIR SERVED_NAME MAX_NUM_SEQS PORT
  setsid vllm serve "$1" --served-model-name "$2" --tensor-parallel-size 1 \
    --max-num-seqs "$3" --max-model-len 2048 --load-format dummy \
    --gpu-memory-utilization 0.9 --no-enable-prefix-caching --host 127.0.0.1 --port "$4" \
    --disable-uvicorn-access-log > "$OUT/vllm-serve-$2-b$3.log" 2>&1 &
  SERVER_PGID=$!
  trap stop_vllm EXIT
  local t0=$SECONDS
  until "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
      "http://127.0.0.1:$4/health" 2> /dev/null; do
    if ! kill -0 "$SERVER_PGID" 2> /dev/null; then
      echo "vllm serve died:"; tail -20 "$OUT/vllm-serve-$2-b$3.log"; return 1
    fi
    if (( SECONDS - t0 > ${STARTUP_TIMEOUT_S:-300} )); then echo "vllm serve: no /health"; return 1; fi
    sleep 2
  done
  echo "vllm serve up after $((SECONDS - t0)) s"
}
stop_vllm() {
  [ -n "$SERVER_PGID" ] || return 0
  kill -INT -- "-$SERVER_PGID" 2> /dev/null
  for _ in $(seq 20); do kill -0 "$SERVER_PGID" 2> /dev/null || break; sleep 0.5; done
  kill -KILL -- "-$SERVER_PGID" 2> /dev/null
  SERVER_PGID=""
}
