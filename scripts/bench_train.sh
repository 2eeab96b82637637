#!/usr/bin/env bash
# Benchmark of `witcurate train` on the generated coloured-shapes dataset:
# samples/s, mean step time split into data wait / forward / backward /
# optimizer, peak RSS; then zero-shot accuracy of the trained model.
#
#   scripts/bench_train.sh                 # tiny preset, batch 64, 200 steps
#   PRESET=small STEPS=50 scripts/bench_train.sh
#   PROFILE=dev scripts/bench_train.sh     # reuse the dev build
#   scripts/bench_train.sh --with-torch    # also the same model and batch in PyTorch (CPU)
#   COMPUTE_THREADS=2 ACCUM=4 scripts/bench_train.sh   # --compute-threads, --accum-freq
#
# Binaries are taken from $CARGO_TARGET_DIR (default target/).
# --with-torch installs torch into $TORCH_VENV (default
# ~/.cache/witcurate/venv-torch) on first use, with scripts/setup_torch.sh: the
# CPU wheel where its index is reachable (several hundred MB), else PyPI's,
# which pulls several GB of CUDA libraries; so CI never runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_TORCH=0
for a in "$@"; do
  case "$a" in
    --with-torch) WITH_TORCH=1 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
PRESET="${PRESET:-tiny}"
STEPS="${STEPS:-200}"
BATCH="${BATCH:-64}"
CTX="${CTX:-77}"
ACCUM="${ACCUM:-1}"
WORK="${WORK:-$(mktemp -d)}"
THREAD_FLAGS=()
[ -n "${COMPUTE_THREADS:-}" ] && THREAD_FLAGS=(--compute-threads "$COMPUTE_THREADS")
TARGET="${CARGO_TARGET_DIR:-target}"

# PROFILE=dev reuses the dev build (dependencies are optimised there too;
# the trainer's own code is not), for machines without a release build.
PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --workspace --bins
  DIR=$TARGET/release
else
  cargo build --workspace --all-targets --quiet
  DIR=$TARGET/debug
fi
BIN=$DIR/witcurate
[ -d "$WORK/data/shards" ] || "$DIR/witcurate-synthetic" "$WORK/data" 4 2000 20 >/dev/null

rm -rf "$WORK/run"
# Other jobs on the machine skew the numbers: say how busy it was.
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
"$BIN" --quiet train --shards "$WORK/data/shards" --out "$WORK/run" --preset "$PRESET" \
  --steps "$STEPS" --batch-size "$BATCH" --accum-freq "$ACCUM" --lr 2e-3 --context-length "$CTX" \
  --checkpoint-every "$STEPS" "${THREAD_FLAGS[@]}" > "$WORK/summary.txt" &
PID=$!
PEAK=0
while kill -0 "$PID" 2>/dev/null; do
  KB=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)
  [ -n "$KB" ] && [ "$KB" -gt "$PEAK" ] && PEAK=$KB
  sleep 0.2
done
wait "$PID"
cat "$WORK/summary.txt"
echo "bench train: load average $LOAD0 before, $(cut -d' ' -f1-3 /proc/loadavg) after ($(nproc) cores)"

python3 - "$WORK/run/train_log.jsonl" "$PEAK" "$PRESET" "$((BATCH * ACCUM))" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
warm = rows[5:] if len(rows) > 10 else rows   # skip start-up steps
def mean(k): return sum(r[k] for r in warm) / len(warm)
step = mean("data_wait_ms") + mean("forward_ms") + mean("backward_ms") + mean("optimizer_ms")
print(f"bench train [{sys.argv[3]}, batch {sys.argv[4]} per step]: {1000 * int(sys.argv[4]) / step:.1f} samples/s, "
      f"step {step:.1f} ms = data wait {mean('data_wait_ms'):.1f} + forward {mean('forward_ms'):.1f} "
      f"+ backward {mean('backward_ms'):.1f} + optimizer {mean('optimizer_ms'):.1f} ms; "
      f"peak RSS {int(sys.argv[2]) / 1024:.0f} MiB; loss {rows[0]['loss']:.3f} -> {rows[-1]['loss']:.3f}")
open(sys.argv[1] + ".rust_step_ms", "w").write(str(step))
PY

"$BIN" eval --checkpoint "$WORK/run" --images "$WORK/data/held_out" \
  --classes "$WORK/data/held_out/classes.tsv" --json "$WORK/eval.json"

if [ "$WITH_TORCH" = 1 ]; then
  VENV="${TORCH_VENV:-$HOME/.cache/witcurate/venv-torch}"
  bash scripts/setup_torch.sh
  NPROC=$(nproc)
  TORCH_MS=$("$VENV/bin/python" scripts/torch_clip_reference.py --preset "$PRESET" \
    --batch-size "$BATCH" --context-length "$CTX" --steps 30 --threads "$NPROC" \
    --vocab-size "$(python3 -c "import json;print(json.load(open('$(ls -d "$WORK"/run/step-* | tail -1)/checkpoint.json'))['model']['vocab_size'])")")
  RUST_MS=$(cat "$WORK/run/train_log.jsonl.rust_step_ms")
  python3 - "$RUST_MS" "$TORCH_MS" "$BATCH" <<'PY'
import sys
r, t, b = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"bench train torch: {1000 * b / t:.1f} samples/s (step {t:.1f} ms, compute only); "
      f"witcurate/torch speed ratio {t / r:.2f}")
PY
fi
echo "work directory: $WORK"
