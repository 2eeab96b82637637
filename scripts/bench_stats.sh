#!/usr/bin/env bash
# Benchmark of `witcurate stats`: builds a synthetic run (every stage, Zipf
# texts/entries/domains) and reports rows/s, MB/s and peak RSS.
#   scripts/bench_stats.sh [PAIRS=2000000] [FILES=16] [VOCAB=100000]
# PROFILE=dev uses the debug build (workspace crates at opt-level 1) instead of --release.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${1:-2000000}"
FILES="${2:-16}"
VOCAB="${3:-100000}"
RUN="${BENCH_DIR:-$(pwd)/target/bench-stats}/run-$PAIRS"

PROFILE="${PROFILE:-release}"
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin witcurate -p witcurate
  cargo build --release --quiet -p pipeline --example synth_run
  BIN=target/release
else
  cargo build --quiet --bin witcurate -p witcurate
  cargo build --quiet -p pipeline --example synth_run
  BIN=target/debug
fi
if [ ! -f "$RUN/counts.parquet" ]; then
  rm -rf "$RUN"
  "$BIN/examples/synth_run" "$RUN" "$PAIRS" "$FILES" "$VOCAB"
fi
bytes=$(find "$RUN" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')

python3 - "$RUN" "$bytes" "$BIN/witcurate" "$PROFILE" <<'PY'
import os, resource, subprocess, sys, time, json
run, size, binary, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
t0 = time.time()
p = subprocess.run([binary, "--quiet", "stats", run], capture_output=True, text=True)
dt = time.time() - t0
if p.returncode != 0:
    sys.exit(p.stderr)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
peak_kib, cpu = ru.ru_maxrss, ru.ru_utime + ru.ru_stime
s = json.load(open(os.path.join(run, "stats", "stats.json")))
rows = sum(f["rows"] for f in s["stage_files"].values())
print(p.stdout.strip())
print(f"bench_stats: {rows:,} rows, {size/1e6:.0f} MB of parquet in {dt:.2f} s: "
      f"{rows/dt:,.0f} rows/s, {size/1e6/dt:.0f} MB/s, peak RSS {peak_kib/1024:.0f} MiB, "
      f"{os.cpu_count()} cores, {profile} build; CPU {cpu:.1f} s = {rows/cpu:,.0f} rows per CPU-second")
PY
