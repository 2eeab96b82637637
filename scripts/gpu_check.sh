#!/usr/bin/env bash
# One-call check of the trainer on a GPU: builds the `cuda` binary, trains
# the `small` preset on generated shards in f32 and in bf16, runs the same
# model, batch and optimizer in PyTorch on the same GPU, and prints
# samples/s and peak GPU memory side by side, then a one-line verdict. With two
# GPUs or more it also trains on two of them as an MPI job whose gradients and
# embeddings go over NCCL, and compares its loss at every step with one GPU's
# on the same global batch (with one GPU it says loudly that it skipped that).
#
#   scripts/gpu_check.sh           # a machine with one NVIDIA GPU (about 5 minutes after the build)
#   scripts/gpu_check.sh --cpu     # the same steps on the CPU at a reduced size: what runs without a GPU
#
# Environment:
#   WITCURATE_BIN   a witcurate built with `--features cuda,nccl,mpi` (default:
#                   built here by scripts/build_cuda.sh, which needs cargo, Open
#                   MPI and, without nvcc, network access to PyPI for NVIDIA's
#                   CUDA and NCCL wheels)
#   TORCH_PYTHON    a python that imports torch (default: python3 when it does,
#                   else a venv in ~/.cache/witcurate/venv-torch, installed from PyPI)
#   PRESET STEPS BATCH CTX   model and run size (default small, 300, 256, 77;
#                   with --cpu: tiny, 30, 32, 16)
#   DP_STEPS DP_BATCH DP_TOL   the two-GPU comparison: steps (default 60),
#                   global batch (128), and the largest difference allowed
#                   between the two runs' losses at any step, relative to the
#                   loss (2e-3: the sums run in another order)
#   WORK            work directory (default: a new temporary one)
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=gpu
for a in "$@"; do
  case "$a" in
    --cpu) MODE=cpu ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
START=$SECONDS
WORK="${WORK:-$(mktemp -d)}"
if [ "$MODE" = gpu ]; then
  PRESET="${PRESET:-small}" STEPS="${STEPS:-300}" BATCH="${BATCH:-256}" CTX="${CTX:-77}"
  DEVICE=cuda
  command -v nvidia-smi >/dev/null || { echo "gpu check: FAILED: no nvidia-smi (no NVIDIA driver); use --cpu"; exit 1; }
  GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n1)
  echo "==> GPU: $GPU"
else
  PRESET="${PRESET:-tiny}" STEPS="${STEPS:-30}" BATCH="${BATCH:-32}" CTX="${CTX:-16}"
  DEVICE=cpu
  echo "==> CPU run (no GPU): $(nproc) cores"
fi

echo "==> 1. build"
if [ -n "${WITCURATE_BIN:-}" ]; then
  BIN=$WITCURATE_BIN
elif [ "$MODE" = gpu ]; then
  bash scripts/build_cuda.sh
  CUDA_TARGET="${CUDA_TARGET_DIR:-target/cuda}"
  BIN=$CUDA_TARGET/release/witcurate
  # The CUDA and NCCL libraries of the wheels, where no toolkit is installed.
  [ -f "$CUDA_TARGET/env.sh" ] && . "$CUDA_TARGET/env.sh"
else
  cargo build --release --quiet --bin witcurate
  BIN=${CARGO_TARGET_DIR:-target}/release/witcurate
fi
GEN=$(dirname "$BIN")/witcurate-synthetic
if [ ! -x "$GEN" ]; then
  cargo build --release --quiet -p synthetic --bin witcurate-synthetic
  GEN=${CARGO_TARGET_DIR:-target}/release/witcurate-synthetic
fi
echo "binary: $BIN ($(( SECONDS - START )) s so far)"

echo "==> 2. generated shards"
[ -d "$WORK/data/shards" ] || "$GEN" "$WORK/data" 8 2000 10 >/dev/null
echo "$WORK/data/shards"

# Peak memory of process $1 while it runs, in MiB, into file $2: GPU memory
# in use (minus what was in use before it started) on a GPU, VmHWM on the CPU.
watch_memory() {
  local pid=$1 out=$2 base=0 peak=0 now
  if [ "$MODE" = gpu ]; then
    base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n1)
  fi
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$MODE" = gpu ]; then
      now=$(( $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n1) - base ))
    else
      now=$(( $(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0) / 1024 ))
    fi
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  echo "$peak" >"$out"
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
for PREC in f32 bf16; do
  echo "==> 3. witcurate train --device $DEVICE --precision $PREC ($PRESET, batch $BATCH, $STEPS steps)"
  RUN=$WORK/run-$PREC
  rm -rf "$RUN"
  "$BIN" --quiet train --shards "$WORK/data/shards" --out "$RUN" --preset "$PRESET" \
    --device "$DEVICE" --precision "$PREC" --steps "$STEPS" --batch-size "$BATCH" \
    --context-length "$CTX" --lr 1e-3 --checkpoint-every "$STEPS" >"$WORK/train-$PREC.txt" &
  PID=$!
  watch_memory "$PID" "$WORK/mem-$PREC" &
  WATCH=$!
  wait "$PID"
  wait "$WATCH"
  python3 - "$RUN/train_log.jsonl" "$(cat "$WORK/mem-$PREC")" "$PREC" >>"$RESULTS" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
warm = rows[len(rows) // 10:] or rows
sps = sum(r["samples_per_sec"] for r in warm) / len(warm)
loss = rows[-1]["loss"]
assert math.isfinite(loss), f"loss {loss}"
print(f"witcurate\t{sys.argv[3]}\t{sps:.1f}\t{sys.argv[2]}\t{rows[0]['loss']:.3f} -> {loss:.3f}")
PY
  tail -n1 "$RESULTS"
done

TORCH_PY="${TORCH_PYTHON:-}"
if [ -z "$TORCH_PY" ]; then
  if python3 -c 'import torch' 2>/dev/null; then
    TORCH_PY=python3
  else
    VENV="$HOME/.cache/witcurate/venv-torch"
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
      if [ "$MODE" = cpu ]; then
        VENV=""
      else
        python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet torch numpy || VENV=""
      fi
    fi
    [ -n "$VENV" ] && TORCH_PY="$VENV/bin/python"
  fi
fi
VOCAB=$(python3 -c "import json,glob; print(json.load(open(sorted(glob.glob('$WORK/run-f32/step-*'))[-1] + '/checkpoint.json'))['model']['vocab_size'])")
if [ -n "$TORCH_PY" ]; then
  for PREC in f32 bf16; do
    echo "==> 4. PyTorch $("$TORCH_PY" -c 'import torch; print(torch.__version__)') on $DEVICE, $PREC"
    "$TORCH_PY" scripts/torch_clip_reference.py --preset "$PRESET" --batch-size "$BATCH" \
      --context-length "$CTX" --vocab-size "$VOCAB" --steps "$(( STEPS < 100 ? STEPS : 100 ))" \
      --threads "$(nproc)" --device "$DEVICE" --precision "$PREC" --json >"$WORK/torch-$PREC.json" &
    PID=$!
    watch_memory "$PID" "$WORK/torch-mem-$PREC" &
    WATCH=$!
    wait "$PID"
    wait "$WATCH"
    python3 - "$WORK/torch-$PREC.json" "$(cat "$WORK/torch-mem-$PREC")" "$PREC" >>"$RESULTS" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(f"pytorch\t{sys.argv[3]}\t{r['samples_per_s']:.1f}\t{sys.argv[2]}\tloss {r['loss']:.3f} (random batch)")
PY
    tail -n1 "$RESULTS"
  done
else
  echo "==> 4. PyTorch: not available here (set TORCH_PYTHON), skipped"
fi

# Two GPUs over NCCL against one GPU: the same global batch, seed and steps
# must give the same loss at every step (within float rounding).
NCCL_VERDICT=$WORK/nccl_verdict.txt
GPUS=0
[ "$MODE" = gpu ] && GPUS=$(nvidia-smi -L | grep -c '^GPU ' || true)
if [ "$MODE" != gpu ]; then
  echo "nccl check: SKIPPED (CPU run, no GPUs)" >"$NCCL_VERDICT"
elif [ "$GPUS" -lt 2 ]; then
  echo "==> 5. NCCL on two GPUs: SKIPPED, this machine has $GPUS GPU (nvidia-smi -L); run this script on a machine with two or more"
  echo "nccl check: SKIPPED (only $GPUS GPU; it needs two)" >"$NCCL_VERDICT"
elif ! command -v mpirun >/dev/null; then
  echo "==> 5. NCCL on two GPUs: SKIPPED, no mpirun (scripts/setup.sh installs Open MPI)"
  echo "nccl check: FAILED (no mpirun for the $GPUS GPUs)" >"$NCCL_VERDICT"
else
  DP_STEPS="${DP_STEPS:-60}" DP_BATCH="${DP_BATCH:-128}" DP_TOL="${DP_TOL:-2e-3}"
  echo "==> 5. NCCL: $PRESET, global batch $DP_BATCH, $DP_STEPS steps on 1 GPU, then on 2 GPUs (mpirun -n 2)"
  DP_ARGS=(train --shards "$WORK/data/shards" --preset "$PRESET" --device cuda --precision f32
    --steps "$DP_STEPS" --batch-size "$DP_BATCH" --context-length "$CTX" --lr 1e-3
    --checkpoint-every "$DP_STEPS" --seed 7)
  rm -rf "$WORK/dp-1" "$WORK/dp-2"
  CUDA_VISIBLE_DEVICES=0 "$BIN" --quiet "${DP_ARGS[@]}" --out "$WORK/dp-1" >"$WORK/dp-1.txt" 2>&1 || true
  # One rank per GPU: rank r takes cuda:r (its local rank on this node).
  CUDA_VISIBLE_DEVICES=0,1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    mpirun -n 2 --bind-to none -x LD_LIBRARY_PATH -x CUDA_VISIBLE_DEVICES \
    "$BIN" "${DP_ARGS[@]}" --out "$WORK/dp-2" >"$WORK/dp-2.txt" 2>&1 || true
  python3 - "$WORK/dp-1" "$WORK/dp-2" "$WORK/dp-2.txt" "$DP_TOL" >"$NCCL_VERDICT" <<'PY' || true
import json, os, sys
one, two, log, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
def losses(run):
    path = os.path.join(run, "train_log.jsonl")
    if not os.path.exists(path):
        return None
    return {r["step"]: r["loss"] for r in map(json.loads, open(path))}
a, b = losses(one), losses(two)
text = open(log, errors="replace").read()
nccl = "over NCCL" in text
if a is None or b is None or not a or set(a) != set(b):
    which = "1-GPU" if not a else "2-GPU"
    print(f"nccl check: FAILED ({which} run did not train, or the runs logged other steps; see {log})")
    sys.exit()
worst = max(abs(a[s] - b[s]) / max(abs(a[s]), 1.0) for s in a)
ok = worst <= tol and nccl
how = "NCCL" if nccl else "no NCCL line in the log (a binary without the `nccl` feature?)"
print(f"nccl check: {'OK' if ok else 'FAILED'}: 2 GPUs ({how}) vs 1 GPU, {len(a)} steps, "
      f"losses differ by up to {worst:.2e} of the loss (tolerance {tol:g}); "
      f"final loss {a[max(a)]:.4f} vs {b[max(b)]:.4f}")
PY
  cat "$NCCL_VERDICT"
fi

echo
python3 - "$RESULTS" "$MODE" "$PRESET" "$BATCH" "$(( SECONDS - START ))" "$NCCL_VERDICT" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
mode, preset, batch, secs = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
mem = "peak GPU MiB" if mode == "gpu" else "peak RSS MiB"
print(f"| trainer | precision | samples/s | {mem} | loss |")
print("|---|---|---|---|---|")
for who, prec, sps, m, loss in rows:
    print(f"| {who} | {prec} | {sps} | {m} | {loss} |")
get = {(r[0], r[1]): float(r[2]) for r in rows}
parts = []
for prec in ("f32", "bf16"):
    w, t = get.get(("witcurate", prec)), get.get(("pytorch", prec))
    if w is not None and t:
        parts.append(f"{prec} {w:.0f} samples/s = {w / t:.2f}x PyTorch")
    elif w is not None:
        parts.append(f"{prec} {w:.0f} samples/s")
ok = all(("witcurate", p) in get for p in ("f32", "bf16"))
print(f"gpu check ({mode}, {preset}, batch {batch}, {secs} s): {'OK' if ok else 'FAILED'}: " + "; ".join(parts))
print(open(sys.argv[6]).read().strip())
if mode == "gpu" and secs > 480:
    print(f"(took {secs} s, over the 8 minutes it should take)")
PY
