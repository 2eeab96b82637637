#!/usr/bin/env bash
# Throughput and peak memory of `witcurate crawl extract` on WAT and on WARC.
#
#   scripts/bench_extract.sh [MB_PER_FILE] [FILES]     (default: 64 MB x 4 files per format)
#
# The input is built from the real Common Crawl sample in tests/data/commoncrawl:
# its records are replicated with varied target URIs (so every copy yields new
# pairs) and written gzip-compressed with one member per record, as Common
# Crawl ships them. Each format is extracted once with --threads 1 (MB/s per
# core) and once with every core. Prints compressed and decompressed MB/s per
# core (bytes per CPU-second of the process, robust on a shared machine), the
# wall-clock rate, and the peak RSS of the process.
#
# Set WITCURATE_BIN to benchmark an existing binary; otherwise a release
# build is made first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MB="${1:-64}"
FILES="${2:-4}"
WORK="${BENCH_DIR:-$ROOT/target/bench-extract}"
mkdir -p "$WORK"

if [ -z "${WITCURATE_BIN:-}" ]; then
  echo "==> building witcurate (release)" >&2
  cargo build --quiet --release --bin witcurate
  WITCURATE_BIN="$ROOT/target/release/witcurate"
fi

echo "==> generating ${FILES} x ${MB} MB (decompressed) of WAT and of WARC in $WORK" >&2
python3 "$ROOT/scripts/bench_extract_data.py" "$ROOT/tests/data/commoncrawl" "$WORK" "$MB" "$FILES"

run() { # run LABEL THREADS GLOB
  local label=$1 threads=$2 glob=$3 out="$WORK/run-$1-$2"
  rm -rf "$out"
  python3 - "$WITCURATE_BIN" "$out" "$threads" "$label" $glob <<'PY'
import json, os, resource, subprocess, sys, time, glob
binary, out, threads, label, inputs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
t = time.time()
p = subprocess.run([binary, "--quiet", "--threads", str(threads), "crawl", "extract",
                    "--out", out, "--input", *inputs], capture_output=True, text=True)
wall = time.time() - t
if p.returncode != 0:
    sys.exit(p.stderr)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rss, cpu = ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime
raw = dec = pairs = 0
for f in glob.glob(os.path.join(out, "_stats/extract/task-*.json")):
    c = json.load(open(f))["counters"]
    raw += c.get("bytes_raw", 0); dec += c.get("bytes_decoded", 0); pairs += c.get("pairs", 0)
# Per core = per CPU-second used, which stays meaningful on a busy machine.
print(f"{label:5s} threads={threads:2d}  {raw/1e6:7.1f} MB gz ({dec/1e6:7.1f} MB)  wall {wall:6.2f} s  "
      f"cpu {cpu:6.2f} s  per core: {raw/1e6/cpu:6.1f} MB/s gz, {dec/1e6/cpu:6.1f} MB/s  "
      f"wall: {raw/1e6/wall:6.1f} MB/s gz  {pairs/wall:8.0f} pairs/s  peak RSS {rss:5.0f} MiB")
print("   " + p.stdout.strip())
PY
}

CORES=$(nproc)
for kind in wat warc; do
  case $kind in wat) glob="$WORK/bench-*.warc.wat.gz";; warc) glob="$WORK/bench-*.warc.gz";; esac
  run "$kind" 1 "$glob"
  [ "$CORES" -gt 1 ] && run "$kind" "$CORES" "$glob"
done
