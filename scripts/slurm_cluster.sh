#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, started by hand (no systemd),
# for testing `--executor slurm`. Uses Debian's slurm-wlm and munge.
#
#   scripts/slurm_cluster.sh install   # apt-get install slurm-wlm munge (when missing)
#   scripts/slurm_cluster.sh start     # write config, start munged, slurmctld, slurmd
#   scripts/slurm_cluster.sh stop      # stop the daemons by their PID files
#   scripts/slurm_cluster.sh env       # print `export SLURM_CONF=...` for clients
#
# Everything (config, state, spool, logs, munge key and socket) lives under
# $SLURM_BASE (default /tmp/witcurate-slurm). Clients find the cluster through
# SLURM_CONF=$SLURM_BASE/etc/slurm.conf.
set -euo pipefail

BASE=${SLURM_BASE:-/tmp/witcurate-slurm}
export SLURM_CONF=$BASE/etc/slurm.conf
MUNGE_SOCK=$BASE/munge/run/munge.socket.2

say() { printf '[slurm] %s\n' "$*" >&2; }

wait_for() { # wait_for SECONDS CMD...
  local t=$1; shift
  for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

do_install() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null; then return 0; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

write_config() {
  mkdir -p "$BASE"/{etc,state,spool,log,run} "$BASE"/munge/{etc,run,lib,log}
  # munged insists on an owner-only key dir and a world-traversable socket dir.
  chmod 700 "$BASE/munge/etc" "$BASE/munge/lib"
  chmod 755 "$BASE/munge" "$BASE/munge/run" "$BASE/munge/log"
  [[ -s $BASE/munge/etc/munge.key ]] || mungekey --create --keyfile="$BASE/munge/etc/munge.key"
  chmod 600 "$BASE/munge/etc/munge.key"
  # slurmd identifies itself by `hostname -s`; its hardware line must not
  # claim more memory than there is (the node would be drained).
  local node nodeline
  node=$(hostname -s)
  nodeline=$(slurmd -C | head -n1)
  cat >"$SLURM_CONF" <<CONF
ClusterName=witcurate
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${MUNGE_SOCK},cred_expire=10
StateSaveLocation=${BASE}/state
SlurmdSpoolDir=${BASE}/spool
SlurmctldPidFile=${BASE}/run/slurmctld.pid
SlurmdPidFile=${BASE}/run/slurmd.pid
SlurmctldLogFile=${BASE}/log/slurmctld.log
SlurmdLogFile=${BASE}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=${BASE}/log/jobcomp.txt
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=2,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
CommunicationParameters=NoInAddrAny
MinJobAge=600
MaxArraySize=10001
${nodeline} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

do_start() {
  do_install
  write_config
  munged --key-file="$BASE/munge/etc/munge.key" --socket="$MUNGE_SOCK" \
    --pid-file="$BASE/munge/run/munged.pid" --log-file="$BASE/munge/log/munged.log" \
    --seed-file="$BASE/munge/lib/munged.seed"
  wait_for 10 bash -c "munge -S '$MUNGE_SOCK' -n | unmunge -S '$MUNGE_SOCK'" || { say "munged did not start"; exit 1; }
  slurmctld -f "$SLURM_CONF" -i
  wait_for 30 scontrol ping || { say "slurmctld did not start: $BASE/log/slurmctld.log"; exit 1; }
  slurmd -f "$SLURM_CONF"
  wait_for 30 bash -c "sinfo -h -N -o %t | grep -qx idle" || { say "slurmd did not register: $BASE/log/slurmd.log"; exit 1; }
  say "cluster up: export SLURM_CONF=$SLURM_CONF"
}

stop_pidfile() { # stop_pidfile NAME PIDFILE
  local pf=$2 pid
  [[ -s $pf ]] || return 0
  pid=$(cat "$pf")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    say "$1 (pid $pid) stopped"
  fi
  return 0
}

do_stop() {
  stop_pidfile slurmd "$BASE/run/slurmd.pid"
  stop_pidfile slurmctld "$BASE/run/slurmctld.pid"
  stop_pidfile munged "$BASE/munge/run/munged.pid"
}

case ${1:-} in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  env) echo "export SLURM_CONF=$SLURM_CONF" ;;
  *) echo "usage: $0 {install|start|stop|env}" >&2; exit 2 ;;
esac
