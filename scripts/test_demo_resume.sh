#!/usr/bin/env bash
# Checks that scripts/demo.sh resumes: a run SIGKILLed (the whole process
# group, HTTP server included) inside each stage and restarted with the same
# output directory each time ends with the same outputs as an uninterrupted run.
#
#   scripts/test_demo_resume.sh [REFERENCE_OUT]
#
# REFERENCE_OUT is the output of an uninterrupted reduced run made with the
# same DEMO_* settings (scripts/test_demo.sh passes its own); without it the
# uninterrupted run is made here first. The killed run uses the reference's
# port (OUT/web/port): the sample web's URLs, and so every later output,
# contain it. TEST_SEED picks the kill delays (printed, for reruns);
# TEST_KEEP=1 keeps the killed run's directory and logs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEMO_PAGES=${DEMO_PAGES:-60} DEMO_STEPS=${DEMO_STEPS:-40} DEMO_CHECKPOINT_EVERY=${DEMO_CHECKPOINT_EVERY:-10}
WORK=$(mktemp -d /tmp/witcurate-resume-test.XXXXXX)
PGID=""
cleanup() {
  if [ -n "$PGID" ]; then kill -9 -- "-$PGID" 2>/dev/null || true; fi
  if [ "${TEST_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
started=$(date +%s)

if [ $# -ge 1 ]; then
  A=$(cd "$1" && pwd)
else
  A=$WORK/a
  echo "==> uninterrupted reference run into $A"
  bash scripts/demo.sh "$A" >"$WORK/a.log" 2>&1 || { tail -n 30 "$WORK/a.log"; exit 1; }
fi
B=$WORK/b
mkdir -p "$B/web"
cp "$A/web/port" "$B/web/port"

SEED=${TEST_SEED:-$$}
RANDOM=$SEED
echo "==> killed and restarted run into $B (TEST_SEED=$SEED)"

# delay VAR MIN_MS SPREAD_MS: sets VAR to a varied delay in seconds.
delay() {
  local ms=$(($2 + RANDOM % $3))
  printf -v "$1" '%d.%03d' $((ms / 1000)) $((ms % 1000))
}
delay d1 100 400
delay d2 200 1000
delay d3 0 60
delay d4 50 400
delay d5 0 80
delay d6 100 600
delay d7a 100 900
delay d7b 1000 1000
delay d8 0 200
delay d9 0 100

# Kill points, STAGE|TRIGGER|DELAY: the trigger is a "==> N." line of this
# attempt's log, or a file appearing (file:PATH under B); the process group is
# SIGKILLed DELAY seconds later and must still be in stage STAGE (the "==> N."
# numbers of demo.sh). Every stage is killed once; training twice: mid-run
# just after its first checkpoint, then again after resuming from it.
KILLS=(
  "1|log:==> 1.|$d1"
  "2|log:==> 2.|$d2"
  "3|log:==> 3.|$d3"
  "4|log:==> 4.|$d4"
  "5|log:==> 5.|$d5"
  "6|log:==> 6.|$d6"
  "7|file:train/step-$(printf '%08d' "$DEMO_CHECKPOINT_EVERY")|$d7a"
  "7|log:==> 7.|$d7b"
  "8|log:==> 8.|$d8"
  "9|log:==> 9.|$d9"
)

# Waits (at most 300 s) until the trigger fires while the attempt runs.
wait_for() { # wait_for TRIGGER LOG PID
  local trigger=$1 log=$2 pid=$3
  for _ in $(seq 1 6000); do
    case $trigger in
      log:*) grep -qF -- "${trigger#log:}" "$log" && return 0 ;;
      file:*) [ -e "$B/${trigger#file:}" ] && return 0 ;;
    esac
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

attempt=0
off_target=0
for k in "${KILLS[@]}"; do
  IFS="|" read -r stage trigger secs <<<"$k"
  attempt=$((attempt + 1))
  log=$WORK/b.$attempt.log
  setsid bash scripts/demo.sh "$B" >"$log" 2>&1 &
  PGID=$!
  for _ in $(seq 1 100); do # until the child has become setsid
    [ "$(ps -o pgid= -p "$PGID" | tr -d ' ')" = "$PGID" ] && break
    sleep 0.01
  done
  if [ "$(ps -o pgid= -p "$PGID" | tr -d ' ')" != "$PGID" ]; then
    echo "FAILED: setsid did not start the run as its own process group"
    exit 1
  fi
  if ! wait_for "$trigger" "$log" "$PGID"; then
    echo "FAILED: attempt $attempt ended before its kill point ($trigger)"
    tail -n 30 "$log"
    exit 1
  fi
  sleep "$secs"
  kill -9 -- "-$PGID" 2>/dev/null || true
  wait "$PGID" 2>/dev/null || true
  # Nothing of the group may survive (zombies waiting for their reaper aside).
  alive() { ps -o stat= -g "$PGID" 2>/dev/null | grep -qv '^Z'; }
  for _ in $(seq 1 50); do alive || break; sleep 0.05; done
  if alive; then
    echo "FAILED: processes of the killed group are still alive"
    ps -o pid,pgid,stat,args -g "$PGID" || true
    exit 1
  fi
  PGID=""
  at=$(grep -o '^==> [0-9]\.' "$log" | tail -n1 | tr -dc 0-9)
  echo "attempt $attempt: killed in stage $at ($trigger, then ${secs}s)"
  # Stages of a few milliseconds can end before the delay does, more so on a
  # loaded machine. A kill that lands later (or a run that ended first) still
  # tests a restart; the comparison below is what must hold.
  if grep -q '^zero-shot top-1: ' "$log"; then
    echo "    (this attempt finished before its kill; the next one reruns a complete run)"
  elif [ "$at" != "$stage" ]; then
    echo "    (meant for stage $stage; landed in stage $at)"
    off_target=$((off_target + 1))
  fi
done
echo "$attempt kills, $off_target of them outside their intended stage"

attempt=$((attempt + 1))
echo "attempt $attempt: to the end"
bash scripts/demo.sh "$B" >"$WORK/b.$attempt.log" 2>&1 || {
  echo "FAILED: the restarted run did not finish"
  tail -n 30 "$WORK/b.$attempt.log"
  exit 1
}
grep -q '^zero-shot top-1: ' "$WORK/b.$attempt.log"

# No temporary file or directory of a killed process may be left.
leftovers=$(find "$B" \( -name '.*.tmp-*' -o -name '.tmp-*' -o -name '.vocab-spill-*' \) -print)
if [ -n "$leftovers" ]; then
  echo "FAILED: temporary files of killed processes are left:"
  echo "$leftovers"
  exit 1
fi

echo "==> comparing the uninterrupted run with the restarted one"
python3 scripts/compare_demo_outputs.py "$A" "$B"
echo "demo resume: ok ($attempt attempts, $(($(date +%s) - started))s)"
