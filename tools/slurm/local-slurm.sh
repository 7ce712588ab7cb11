#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing greenllm's Slurm profile.
#
#   tools/slurm/local-slurm.sh [--install] start|stop|status|env
#
#   --install  apt-get install slurmctld slurmd slurm-client munge when missing
#   env        prints `export SLURM_CONF=...` (only needed by clients on another host
#              or when /etc/slurm/slurm.conf exists and would take precedence)
#
# Runs munged, slurmctld and slurmd directly (no systemd, no cgroups, no accounting),
# with every file (slurm.conf, gres.conf, state, spool, logs, pid files, fake GPU device
# nodes) under one state directory; nothing in /etc/slurm is written. slurmd runs
# "configless" (it fetches the config from slurmctld and links /run/slurm/conf to its
# cache), so sbatch/squeue/srun on this machine find the cluster without SLURM_CONF.
# That matters: the Slurm executor plugin's in-job `srun` drops SLURM_* variables.
#
# The node advertises fake GPUs: a GRES `gpu` whose File= entries are character devices
# with /dev/null's numbers (Slurm 22.05 drops file-less GPUs: "Removing file-less GPU"),
# so jobs that ask for --gpus=N (greenllm's measure jobs) are scheduled on this CPU-only
# node and see CUDA_VISIBLE_DEVICES. Nothing is a real GPU: this tests scheduling only.
#
# Settings (environment):
#   GREENLLM_SLURM_STATE   state directory          (default /tmp/greenllm-slurm)
#   GREENLLM_SLURM_GPUS    fake GPUs on the node    (default 8: enough for a TP8 instance)
#   GREENLLM_SLURM_CPUS    CPUs the node advertises (default 64, like a GPU node; the
#                          real count is what `slurmd -C` says). With task/none nothing
#                          is bound, so advertising more lets the site profile's CPU
#                          requests (cpus_per_gpu) schedule unchanged on a small machine.
#   GREENLLM_SLURM_PORT    slurmctld port; slurmd uses PORT+1 (default 6817)
#
# Needs root (slurmd runs jobs as their user, munged needs the munge account).
# Idempotent: `start` on a running cluster reports it and changes nothing; `stop` on a
# stopped one does nothing. `stop` cancels remaining jobs, stops the daemons it started
# (by pid file) and removes the state directory.
set -euo pipefail

STATE="${GREENLLM_SLURM_STATE:-/tmp/greenllm-slurm}"
FAKE_GPUS="${GREENLLM_SLURM_GPUS:-8}"
NODE_CPUS="${GREENLLM_SLURM_CPUS:-64}"
CTLD_PORT="${GREENLLM_SLURM_PORT:-6817}"
SLURMD_PORT=$((CTLD_PORT + 1))
CONF="$STATE/slurm.conf"
RUN_CONF_LINK=/run/slurm/conf  # where configless slurmd exposes the config to clients
PACKAGES=(slurmctld slurmd slurm-client munge)
MUNGE_SOCKET_DIR=/run/munge
MUNGE_PIDFILE="$MUNGE_SOCKET_DIR/munged.pid"

say() { echo "local-slurm: $*"; }
die() { echo "local-slurm: error: $*" >&2; exit 2; }

usage() {
  sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

pid_alive() {  # pid_alive PIDFILE -> 0 when the pid in it is a live process
  [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

stop_pidfile() {  # stop_pidfile NAME PIDFILE: TERM, wait up to 10 s, then KILL
  local name=$1 pidfile=$2 pid
  if ! pid_alive "$pidfile"; then
    return 0
  fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { say "stopped $name (pid $pid)"; rm -f "$pidfile"; return 0; }
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  say "killed $name (pid $pid) after 10 s"
  rm -f "$pidfile"
}

have_binaries() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v sbatch >/dev/null && command -v munged >/dev/null
}

install_packages() {
  if have_binaries; then
    say "packages present: $(slurmd -V)"
    return 0
  fi
  command -v apt-get >/dev/null || die "slurm is not installed and apt-get is not available"
  say "installing ${PACKAGES[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # The packages' init scripts do not start daemons without systemd/policy-rc.d: fine,
  # this script starts them itself with its own config.
  apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null
  say "installed: $(slurmd -V)"
}

munge_works() {
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1
}

start_munge() {
  if munge_works; then
    say "munged already running (not started by this script; left alone on stop)"
    return 0
  fi
  # The munge package creates the key; make one if it was removed.
  if [[ ! -s /etc/munge/munge.key ]]; then
    if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
    say "created /etc/munge/munge.key"
  fi
  # munged refuses keys/dirs with loose ownership or permissions.
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  mkdir -p "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
  chown munge:munge "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
  chmod 0755 "$MUNGE_SOCKET_DIR"
  runuser -u munge -- munged
  for _ in $(seq 1 50); do munge_works && break; sleep 0.1; done
  munge_works || die "munged did not come up (see /var/log/munge/munged.log)"
  cp "$MUNGE_PIDFILE" "$STATE/munged.pid"  # marks munged as ours, for stop
  say "started munged (pid $(cat "$MUNGE_PIDFILE"))"
}

write_config() {
  local node_line host detected real_mem
  host=$(hostname -s)
  # slurmd's own view of the node (first line; the second is UpTime). Memory is taken
  # as is: a RealMemory above the real one makes the node invalid.
  detected=$(slurmd -C | head -n 1)
  [[ "$detected" == NodeName=* ]] || die "unexpected 'slurmd -C' output: $detected"
  real_mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
  [[ -n "$real_mem" ]] || die "no RealMemory in 'slurmd -C' output: $detected"
  node_line="NodeName=${host} CPUs=${NODE_CPUS} Sockets=1 CoresPerSocket=${NODE_CPUS} ThreadsPerCore=1 RealMemory=${real_mem}"
  mkdir -p "$STATE/ctld" "$STATE/spool" "$STATE/log"
  cat >"$CONF.tmp" <<EOF
# Generated by tools/slurm/local-slurm.sh on $(date -Is). One node, no accounting.
ClusterName=greenllm-local
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${CTLD_PORT}
SlurmdPort=${SLURMD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No systemd or cgroup v2 delegation here: track processes by parent pid, no binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# Serve slurm.conf and gres.conf to slurmd and to clients on the node (see header).
SlurmctldParameters=enable_configless
# Trust this file's CPU count over the hardware (see GREENLLM_SLURM_CPUS above).
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
InactiveLimit=0
KillWait=5
MailProg=/bin/true
StateSaveLocation=${STATE}/ctld
SlurmdSpoolDir=${STATE}/spool
SlurmctldPidFile=${STATE}/slurmctld.pid
SlurmdPidFile=${STATE}/slurmd.pid
SlurmctldLogFile=${STATE}/log/slurmctld.log
SlurmdLogFile=${STATE}/log/slurmd.log
${node_line} Gres=gpu:${FAKE_GPUS} NodeAddr=127.0.0.1 State=UNKNOWN
# Same node in both: the greenllm profile sends GPU work to 'gpu' and may send CPU work to 'cpu'.
PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
PartitionName=cpu Nodes=ALL Default=NO MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
  make_fake_gpus
  # AutoDetect off so slurmd does not look for NVML; File= is required for gpu GRES.
  cat >"$STATE/gres.conf" <<EOF
AutoDetect=off
Name=gpu File=${STATE}/fakegpu/nvidia[0-$((FAKE_GPUS - 1))]
EOF
  say "wrote $CONF (${NODE_CPUS} advertised CPUs, ${real_mem} MB, ${FAKE_GPUS} fake GPUs; detected: ${detected#NodeName=})"
}

make_fake_gpus() {
  # Character devices 1:3 (a second /dev/null): Slurm wants a device file per GPU and
  # accepts any char/block device; regular files work too but log an error per file.
  local i dev
  mkdir -p "$STATE/fakegpu"
  for ((i = 0; i < FAKE_GPUS; i++)); do
    dev="$STATE/fakegpu/nvidia$i"
    [[ -e "$dev" ]] && continue
    mknod "$dev" c 1 3 2>/dev/null || : >"$dev"
  done
}

wait_node_idle() {
  local state=""
  for _ in $(seq 1 100); do
    state=$(sinfo -h -N -p gpu -o %T 2>/dev/null | head -n 1 || true)
    case "$state" in
      idle|mixed|allocated) say "node is $state"; return 0 ;;
    esac
    sleep 0.2
  done
  die "node did not become idle (state '${state:-?}'); see $STATE/log/"
}

cmd_start() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (slurmd and munged need it)"
  [[ "$INSTALL" == 1 ]] && install_packages
  have_binaries || die "slurm/munge not installed: rerun with --install (apt) or install ${PACKAGES[*]}"
  mkdir -p "$STATE"
  export SLURM_CONF="$CONF"
  if pid_alive "$STATE/slurmctld.pid" && pid_alive "$STATE/slurmd.pid"; then
    say "already running (slurmctld pid $(cat "$STATE/slurmctld.pid"), slurmd pid $(cat "$STATE/slurmd.pid"))"
    return 0
  fi
  start_munge
  if ! pid_alive "$STATE/slurmctld.pid"; then
    write_config
    # -c: start with a clean state (no jobs/nodes remembered from an earlier run).
    slurmctld -c
    for _ in $(seq 1 50); do pid_alive "$STATE/slurmctld.pid" && break; sleep 0.1; done
    pid_alive "$STATE/slurmctld.pid" || die "slurmctld did not start; see $STATE/log/slurmctld.log"
    say "started slurmctld (pid $(cat "$STATE/slurmctld.pid"), port $CTLD_PORT)"
  fi
  if ! pid_alive "$STATE/slurmd.pid"; then
    # No SLURM_CONF: configless slurmd fetches the config and creates $RUN_CONF_LINK.
    env -u SLURM_CONF slurmd --conf-server "127.0.0.1:${CTLD_PORT}"
    for _ in $(seq 1 50); do pid_alive "$STATE/slurmd.pid" && break; sleep 0.1; done
    pid_alive "$STATE/slurmd.pid" || die "slurmd did not start; see $STATE/log/slurmd.log"
    say "started slurmd (pid $(cat "$STATE/slurmd.pid"), port $SLURMD_PORT)"
  fi
  wait_node_idle
  say "ready: sbatch/squeue/snakemake on this machine find it through $RUN_CONF_LINK"
}

cmd_stop() {
  if [[ ! -d "$STATE" ]]; then
    say "not running (no $STATE)"
    return 0
  fi
  export SLURM_CONF="$CONF"
  if pid_alive "$STATE/slurmctld.pid"; then
    # Cancel leftover jobs while slurmd still runs, so their processes are killed by
    # slurmstepd instead of being orphaned when the daemons go.
    local jobs
    jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ' || true)
    if [[ -n "${jobs// /}" ]]; then
      say "cancelling jobs: $jobs"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 50); do
        [[ -z "$(squeue -h -t R,CG,PD -o %i 2>/dev/null)" ]] && break
        sleep 0.2
      done
    fi
  fi
  stop_pidfile slurmd "$STATE/slurmd.pid"
  stop_pidfile slurmctld "$STATE/slurmctld.pid"
  if [[ -s "$STATE/munged.pid" ]]; then
    stop_pidfile munged "$STATE/munged.pid"
    rm -f "$MUNGE_PIDFILE"
  fi
  # slurmd normally removes its /run/slurm/conf link on exit; make sure no link into
  # the state directory outlives it.
  if [[ -L "$RUN_CONF_LINK" && "$(readlink "$RUN_CONF_LINK")" == "$STATE"/* ]]; then
    rm -f "$RUN_CONF_LINK"
  fi
  rmdir "$(dirname "$RUN_CONF_LINK")" 2>/dev/null || true
  rm -rf "$STATE"
  say "removed $STATE"
}

cmd_status() {
  export SLURM_CONF="$CONF"
  local rc=0 name
  for name in slurmctld slurmd munged; do
    if pid_alive "$STATE/$name.pid"; then
      say "$name running (pid $(cat "$STATE/$name.pid"))"
    elif [[ $name == munged ]] && munge_works; then
      say "munged running (not started by this script)"
    else
      say "$name not running"; rc=1
    fi
  done
  if [[ $rc -eq 0 ]]; then
    sinfo -N -o '%N %P %T %c %m %G' || rc=1
    squeue || rc=1
  fi
  return $rc
}

INSTALL=0
ACTION=""
for arg in "$@"; do
  case "$arg" in
    --install) INSTALL=1 ;;
    -h|--help) usage 0 ;;
    start|stop|status|env) ACTION=$arg ;;
    *) echo "local-slurm: error: unknown argument '$arg'" >&2; usage 2 >&2 ;;
  esac
done
case "$ACTION" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) usage 2 >&2 ;;
esac
