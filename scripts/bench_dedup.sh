#!/usr/bin/env bash
# Benchmark of `witcurate crawl dedup`: a synthetic run (synth_run: shards with
# perceptual hashes, a completed download stage), then dedup with and without
# a reference set; prints images/s and peak RSS.
#   scripts/bench_dedup.sh [PAIRS=4000000] [FILES=16]
# The synthetic shards hold about one image per ten pairs: 3% exact and 5%
# near copies, the rest distinct.
# PROFILE=dev uses the debug build instead of --release.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${1:-4000000}"
FILES="${2:-16}"
RUN="${BENCH_DIR:-$(pwd)/target/bench-dedup}/run-$PAIRS"

PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin witcurate -p witcurate
  cargo build --release --quiet -p pipeline --example synth_run
  BIN="${CARGO_TARGET_DIR:-target}/release"
else
  cargo build --quiet --bin witcurate -p witcurate
  cargo build --quiet -p pipeline --example synth_run
  BIN="${CARGO_TARGET_DIR:-target}/debug"
fi
if [ ! -f "$RUN/_stages/download/complete.json" ]; then
  rm -rf "$RUN"
  "$BIN/examples/synth_run" "$RUN" "$PAIRS" "$FILES" 50000 >/dev/null
fi
# A reference set: the hash of every 1000th image of the first shard, as a
# text table (so decontamination has something to find).
bash scripts/setup.sh >/dev/null
REF="$RUN/reference.txt"
.venv-tools/bin/python - "$RUN" "$REF" <<'PY'
import glob, sys
import pyarrow.parquet as pq
first = sorted(glob.glob(sys.argv[1] + "/shards/*.parquet"))[0]
hashes = [h for h in pq.read_table(first, columns=["phash"]).column("phash").to_pylist() if h is not None]
with open(sys.argv[2], "w") as f:
    for h in hashes[::1000]:
        f.write("%016x\n" % h)
PY

# REDUCE_MEMORY (default 1GiB) bounds one grouping pass; a small value shows
# the passes' cost (the decisions are the same).
for against in none reference; do
  extra=(--reduce-memory "${REDUCE_MEMORY:-1GiB}")
  [ "$against" = reference ] && extra+=(--against "$REF")
  python3 - "$RUN" "$BIN/witcurate" "$PROFILE" "$against" "${extra[@]}" <<'PY'
import json, os, resource, subprocess, sys, time
run, binary, profile, label, extra = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
t0 = time.time()
p = subprocess.run([binary, "--quiet", "crawl", "dedup", "--out", run, "--force", *extra],
                   capture_output=True, text=True)
dt = time.time() - t0
if p.returncode != 0:
    sys.exit(p.stderr)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
c = json.load(open(os.path.join(run, "_stages", "dedup", "reduce.json")))["counters"]
images = sum(c.get(k, 0) for k in ("kept", "skip_exact_duplicate", "skip_near_duplicate", "skip_contaminated"))
print(f"bench_dedup ({profile}, against {label}): {images:,} images in {dt:.2f} s = "
      f"{images / dt:,.0f} images/s; peak RSS {ru.ru_maxrss / 1024:.0f} MiB (the largest child so far)")
print("   " + p.stdout.strip())
PY
done
