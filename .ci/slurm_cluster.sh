#!/usr/bin/env bash
# Single-node SLURM "cluster" on localhost for CI: the cluster tests (tests/test_slurm_cluster.py) run against it.
#
#   sudo .ci/slurm_cluster.sh start    # install if needed, configure, start daemons, wait until the node is idle
#   sudo .ci/slurm_cluster.sh stop     # stop the daemons this script started (by pidfile)
#   .ci/slurm_cluster.sh status        # rc 0 iff the node answers sinfo as idle/mixed/allocated
#
# Idempotent: `start` on a running, unchanged cluster only re-checks it. Every wait is bounded
# (SLURM_CI_TIMEOUT seconds, default 60), so CI fails instead of hanging.
# Needs root, Debian/Ubuntu (apt), no systemd. Tested on Debian 12: slurm 22.05.8, munge 0.5.15.
#
# There is no accounting daemon (slurmdbd), so `sacct` does not work here. Snakemake's SLURM plugin must therefore
# poll with `--slurm-status-command squeue`; the plugin only accepts that when MinJobAge >= 3 x
# init-seconds-before-status-checks, hence MinJobAge=300 below. Real clusters keep the default (sacct).
set -euo pipefail

TIMEOUT=${SLURM_CI_TIMEOUT:-60}
CONF=/etc/slurm/slurm.conf
RUN=/run/slurm
MUNGE_PID=/run/munge/munged.pid
CTLD_PID=$RUN/slurmctld.pid
SLURMD_PID=$RUN/slurmd.pid

log() { echo "[slurm_cluster] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.5 s until it succeeds or SECONDS pass.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out after ${limit}s waiting for $what"
    sleep 0.5
  done
}

node_up() { sinfo -h -N -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

stop_daemons() {
  local p pid
  for p in "$SLURMD_PID" "$CTLD_PID" "$MUNGE_PID"; do
    alive "$p" || continue
    pid=$(cat "$p"); kill "$pid"
    wait_for "$TIMEOUT" "pid $pid ($p) to exit" bash -c "! kill -0 $pid"
    log "stopped pid $pid ($p)"
  done
}

install_packages() {
  local b missing=0
  for b in slurmctld slurmd sbatch munged; do command -v "$b" >/dev/null || missing=1; done
  [ "$missing" = 0 ] && return
  log "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq || die "apt-get update failed or timed out"
  timeout 600 apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
    || die "apt-get install failed or timed out"
}

write_config() {  # prints 1 if slurm.conf changed
  local host hw cpus mem new
  host=$(hostname -s)
  # slurmctld and slurmd must resolve their own short name; minimal CI containers may not.
  getent hosts "$host" >/dev/null || { echo "127.0.0.1 $host" >>/etc/hosts; log "added $host to /etc/hosts"; }
  hw=$(slurmd -C | head -1)
  cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  [ -n "$cpus" ] && [ -n "$mem" ] || die "could not parse 'slurmd -C' output: $hw"
  mem=$(( mem > 2048 ? mem - 1024 : mem * 9 / 10 ))  # slurmd drains a node that reports less than configured
  new=$(mktemp)
  cat >"$new" <<EOF
# Written by .ci/slurm_cluster.sh: one-node CI cluster, no accounting DB.
ClusterName=convrnn-ci
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# finished jobs stay visible to squeue this long (snakemake's squeue status mode needs it)
MinJobAge=300
# scancel/timeout: SIGTERM, then SIGKILL after KillWait s (training checkpoints on SIGTERM)
KillWait=10
InactiveLimit=0
Waittime=0
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  if cmp -s "$new" "$CONF"; then rm -f "$new"; echo 0; else install -m 0644 "$new" "$CONF"; rm -f "$new"; echo 1; fi
}

start() {
  [ "$(id -u)" = 0 ] || die "start needs root"
  local t0 changed p
  t0=$(date +%s)
  install_packages
  mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$RUN" /run/munge /etc/munge /etc/slurm
  chown slurm:slurm /var/spool/slurmctld /var/log/slurm "$RUN"
  chown munge:munge /run/munge
  if [ ! -s /etc/munge/munge.key ]; then  # normally created by the Debian postinst
    mungekey -c -k /etc/munge/munge.key 2>/dev/null || create-munge-key -f
  fi
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
  changed=$(write_config)

  alive "$MUNGE_PID" || runuser -u munge -- /usr/sbin/munged
  wait_for "$TIMEOUT" "munged" bash -c 'munge -n | unmunge'

  if [ "$changed" = 1 ]; then  # new config: restart whatever slurm daemon is already running
    for p in "$SLURMD_PID" "$CTLD_PID"; do
      if alive "$p"; then local pid; pid=$(cat "$p"); kill "$pid"
        wait_for "$TIMEOUT" "pid $pid to exit" bash -c "! kill -0 $pid"; fi
    done
  fi
  alive "$CTLD_PID" || slurmctld
  alive "$SLURMD_PID" || slurmd
  wait_for "$TIMEOUT" "node to become idle (see /var/log/slurm/*.log)" node_up
  [ "$(cd /tmp && timeout "$TIMEOUT" srun -N1 -n1 -t 1 hostname)" = "$(hostname)" ] || die "srun smoke test failed"
  sinfo >&2
  log "cluster up after $(( $(date +%s) - t0 ))s"
}

case "${1:-start}" in
  start) start ;;
  stop) stop_daemons ;;
  status) node_up && sinfo ;;
  *) die "usage: $0 start|stop|status" ;;
esac
