#!/usr/bin/env bash
# End-to-end test of `--executor slurm` on a real single-node Slurm cluster:
# installs Debian's slurm-wlm and munge when missing, starts the daemons by
# hand, runs the crawl stages on the bundled sample data as job arrays with
# several tasks, compares every output with a local run, cancels one task to
# check that rerunning the same command resubmits only what is missing,
# trains on two MPI ranks started by srun, and stops the daemons by their PIDs.
#   scripts/test_slurm.sh [WITCURATE_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WC=${1:-$ROOT/target/debug/witcurate}
DATA=$ROOT/tests/data/commoncrawl
export SLURM_BASE=${SLURM_BASE:-/tmp/witcurate-slurm-test}
export SLURM_CONF=$SLURM_BASE/etc/slurm.conf
WORK=$(mktemp -d /tmp/witcurate-slurm-test.XXXXXX)

pass=0
fail=0
check() { # check NAME CMD...
  local name=$1
  shift
  if "$@"; then echo "ok: $name" >&2; pass=$((pass + 1)); else echo "FAILED: $name" >&2; fail=$((fail + 1)); fi
}
cleanup() {
  bash scripts/slurm_cluster.sh stop || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[ -x "$WC" ] || cargo build --quiet --bin witcurate
bash scripts/slurm_cluster.sh start

INPUTS=("$DATA"/*.warc "$DATA"/*.wat)
EXTRACT_FLAGS=(--partitions 4)

same_outputs() { # same_outputs DIR_A DIR_B SUBDIR
  local a=$1 b=$2 sub=$3 f n=0
  for f in "$a/$sub"/*.parquet; do
    cmp -s "$f" "$b/$sub/$(basename "$f")" || { echo "differs: $sub/$(basename "$f")" >&2; return 1; }
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] && [ "$n" -eq "$(ls "$b/$sub"/*.parquet | wc -l)" ]
}

# 1. Local reference run.
"$WC" --quiet crawl extract --out "$WORK/local" --input "${INPUTS[@]}" "${EXTRACT_FLAGS[@]}" >/dev/null

# 2. The same on Slurm, 3 tasks: identical outputs.
"$WC" --quiet crawl extract --out "$WORK/slurm" --input "${INPUTS[@]}" "${EXTRACT_FLAGS[@]}" \
  --executor slurm --slurm-tasks 3 >"$WORK/slurm.log"
check slurm_extract_equals_local same_outputs "$WORK/local" "$WORK/slurm" pairs

# Later stages on Slurm, each against its local twin.
"$WC" --quiet vocab build --out "$WORK/vocab" --wordnet /usr/share/wordnet >/dev/null
for run in local slurm; do
  exec_flags=()
  [ "$run" = slurm ] && exec_flags=(--executor slurm --slurm-tasks 3)
  "$WC" --quiet crawl match --out "$WORK/$run" --vocab "$WORK/vocab" "${exec_flags[@]}" >/dev/null
  "$WC" --quiet crawl balance --out "$WORK/$run" --t 3 "${exec_flags[@]}" >/dev/null
done
check slurm_match_equals_local same_outputs "$WORK/local" "$WORK/slurm" matched
check slurm_counts_equal_local cmp -s "$WORK/local/counts.parquet" "$WORK/slurm/counts.parquet"
check slurm_balance_equals_local same_outputs "$WORK/local" "$WORK/slurm" selected
check slurm_stages_completed test -e "$WORK/slurm/_stages/match/complete.json" -a -e "$WORK/slurm/_stages/balance/complete.json"

# The whole crawl on Slurm, download included: a small synthetic web served on
# 127.0.0.1, every stage as job arrays, against the same run done locally.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$WC" --quiet sample-web --out "$WORK/web" --base-url "http://127.0.0.1:$PORT" --pages 8 --images-per-page 5 --eval-per-class 0 >/dev/null
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/web/web" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; cleanup' EXIT
# Locally stage by stage; on Slurm as one chain of dependent jobs (`crawl` with
# the flags of every stage).
"$WC" --quiet crawl extract --out "$WORK/web-local" --input "$WORK/web/crawl/sample-web.warc.gz" --partitions 3 >/dev/null
"$WC" --quiet crawl match --out "$WORK/web-local" --vocab "$WORK/vocab" >/dev/null
"$WC" --quiet crawl balance --out "$WORK/web-local" --t 10 >/dev/null
"$WC" --quiet crawl download --out "$WORK/web-local" --allow-private-addresses --shard-size 10 --image-size 32 >/dev/null
"$WC" --quiet crawl --out "$WORK/web-slurm" --input "$WORK/web/crawl/sample-web.warc.gz" --partitions 3 \
  --vocab "$WORK/vocab" --t 10 --allow-private-addresses --shard-size 10 --image-size 32 \
  --executor slurm --slurm-tasks 3 --slurm-arg --comment=witcurate-chain >"$WORK/chain.log"
kill $SERVER 2>/dev/null || true
check slurm_crawl_selected_equals_local same_outputs "$WORK/web-local" "$WORK/web-slurm" selected
check slurm_crawl_shards_equal_local same_outputs "$WORK/web-local" "$WORK/web-slurm" shards
check slurm_chain_submitted_every_stage bash -c "grep -c 'slice(s) submitted' '$WORK/chain.log' | grep -qx 4"
check slurm_download_completed test -e "$WORK/web-slurm/_stages/download/complete.json"
# `--slurm-arg` given to the all-in-one form reaches sbatch (Slurm keeps a
# finished job's record for MinJobAge, 300 s by default).
check slurm_arg_reaches_the_chain bash -c "id=\$(grep -oE 'array job [0-9]+' '$WORK/chain.log' | tail -1 | awk '{print \$3}'); scontrol -o show job \$id | grep -q 'Comment=witcurate-chain'"

# 3. A task killed before it finished: submit held, cancel element 1, release the rest.
"$WC" --quiet crawl extract --out "$WORK/killed" --input "${INPUTS[@]}" "${EXTRACT_FLAGS[@]}" \
  --executor slurm --slurm-tasks 3 --no-wait --slurm-arg=--hold >"$WORK/killed.log"
array=$(grep -oE 'array job [0-9]+' "$WORK/killed.log" | head -1 | awk '{print $3}')
reduce=$(grep -oE 'reduce job [0-9]+' "$WORK/killed.log" | head -1 | awk '{print $3}')
scancel "${array}_1"
scontrol release "$array" "$reduce" 2>/dev/null || true
for _ in $(seq 1 600); do
  [ -z "$(squeue -h -j "$array,$reduce" 2>/dev/null)" ] && break
  sleep 0.2
done
check killed_task_left_no_record test ! -e "$WORK/killed/_stats/extract/task-00001.json"
check other_tasks_completed test -e "$WORK/killed/_stats/extract/task-00000.json"
check reduce_did_not_run test ! -e "$WORK/killed/_stages/extract/reduce.json" -a ! -e "$WORK/killed/_stages/extract/complete.json"

# 4. Rerunning the same command resubmits only the missing task (and the reduce).
"$WC" --quiet crawl extract --out "$WORK/killed" --input "${INPUTS[@]}" "${EXTRACT_FLAGS[@]}" \
  --executor slurm --slurm-tasks 3 >"$WORK/rerun.log"
check rerun_submits_only_missing_task grep -q 'extract: 1 slice(s) submitted' "$WORK/rerun.log"
check rerun_equals_local same_outputs "$WORK/local" "$WORK/killed" pairs

# 5. A run on object storage: extract on Slurm with its run directory on a
# local S3-compatible server (moto's, from scripts/setup.sh's venv), every
# task process reaching it through the AWS_* environment sbatch passes on;
# Slurm's scripts and logs go to slurm/BUCKET/KEY/ under the current directory.
PY=$ROOT/.venv-tools/bin/python
if [ -x "$ROOT/.venv-tools/bin/moto_server" ]; then
  S3_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$ROOT/.venv-tools/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >/dev/null 2>&1 &
  MOTO=$!
  trap 'kill $MOTO 2>/dev/null || true; cleanup' EXIT
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    AWS_ENDPOINT_URL=http://127.0.0.1:$S3_PORT AWS_ALLOW_HTTP=true
  s3() { # s3 mb BUCKET | s3 get BUCKET PREFIX DIR
    "$PY" - "$@" <<'PYTHON'
import os, sys, time, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
if sys.argv[1] == "mb":
    for _ in range(300):
        try:
            s3.create_bucket(Bucket=sys.argv[2]); break
        except Exception:
            time.sleep(0.1)
else:
    _, bucket, prefix, out = sys.argv[1:]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            dest = os.path.join(out, o["Key"][len(prefix) + 1:])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            s3.download_file(bucket, o["Key"], dest)
PYTHON
  }
  s3 mb slurm-runs
  mkdir -p "$WORK/s3-submit"
  (cd "$WORK/s3-submit" && "$WC" --quiet crawl extract --out s3://slurm-runs/extract --input "${INPUTS[@]}" \
    "${EXTRACT_FLAGS[@]}" --executor slurm --slurm-tasks 3 >"$WORK/s3.log")
  s3 get slurm-runs extract "$WORK/s3-run"
  check slurm_s3_extract_equals_local same_outputs "$WORK/local" "$WORK/s3-run" pairs
  check slurm_s3_extract_completed test -e "$WORK/s3-run/_stages/extract/complete.json"
  check slurm_s3_logs_on_local_disk bash -c "ls '$WORK'/s3-submit/slurm/slurm-runs/extract/extract/logs/*.out >/dev/null"
  kill $MOTO 2>/dev/null || true
else
  echo "FAILED: slurm_s3: .venv-tools has no moto_server (run scripts/setup.sh)" >&2
  fail=$((fail + 1))
fi

# 6. Training as 2 MPI ranks started by srun (Slurm's PMIx plugin, the
# binary built with the `mpi` feature): the same per-step losses as one
# process with the whole batch, on the shards of the crawl above.
if [ -n "${WITCURATE_MPI_BIN:-}" ]; then
  MPI_WC=$WITCURATE_MPI_BIN
else
  cargo build --quiet --features mpi --bin witcurate
  cp "$ROOT/target/debug/witcurate" "$WORK/witcurate-mpi"
  cargo build --quiet --bin witcurate # the default binary back in place
  MPI_WC=$WORK/witcurate-mpi
fi
TRAIN_FLAGS=(train --quiet --shards "$WORK/web-local/shards" --preset tiny --steps 6 --batch-size 8
  --lr 2e-3 --warmup-steps 2 --context-length 16 --vocab-size 200 --shuffle-buffer 8)
"$MPI_WC" "${TRAIN_FLAGS[@]}" --out "$WORK/train-1" >/dev/null
srun --mpi=pmix -n 2 --cpus-per-task=1 "$MPI_WC" "${TRAIN_FLAGS[@]}" --out "$WORK/train-srun" \
  >"$WORK/srun.log" 2>&1 || { echo "srun:" >&2; tail -20 "$WORK/srun.log" >&2; }
same_losses() { # same_losses RUN_A RUN_B: every step's loss within 1e-4
  python3 - "$1/train_log.jsonl" "$2/train_log.jsonl" <<'PYTHON'
import json, sys
one, two = ([json.loads(l) for l in open(p)] for p in sys.argv[1:])
a, b = [s["loss"] for s in one], [s["loss"] for s in two]
print(f"losses: 1 process {a}, 2 ranks {b}", file=sys.stderr)
# Only a run of several ranks logs time in collectives.
ranks = all("comm_ms" in s for s in two) and not any("comm_ms" in s for s in one)
sys.exit(0 if ranks and len(a) == len(b) == 6 and all(abs(x - y) <= 1e-4 for x, y in zip(a, b)) else 1)
PYTHON
}
check slurm_srun_two_ranks_train_as_one_process same_losses "$WORK/train-1" "$WORK/train-srun"
# srun without an MPI plugin starts two independent processes: both refuse
# (rather than train the same run directory twice), naming the fix.
refused_without_mpi() {
  ! srun --mpi=none -n 2 --cpus-per-task=1 "$MPI_WC" "${TRAIN_FLAGS[@]}" --out "$WORK/train-nompi" \
    >"$WORK/srun-nompi.log" 2>&1 \
    && grep -q -- "--mpi=pmix" "$WORK/srun-nompi.log" && [ ! -e "$WORK/train-nompi" ]
}
check slurm_srun_without_mpi_is_refused refused_without_mpi

echo "slurm: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
