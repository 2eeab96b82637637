#!/usr/bin/env bash
# Reading inputs from object storage against local disk: `crawl extract` on
# the same gzipped WARC files, once from a local directory and once from an
# S3-compatible server (moto's, started here on 127.0.0.1, the tools venv of
# scripts/setup.sh), through the same streaming, resumable reader; then
# `crawl download` writing its shards into a local run directory and into a
# run directory on the server (staged, then one PUT or a multipart upload
# per file), from the same url table of images served on 127.0.0.1. Prints
# MB/s, pairs/s (images/s) and peak RSS of each and the ratios S3 / local.
#
#   scripts/bench_storage.sh [MB_PER_FILE=64] [FILES=4] [IMAGES=4000] [SHARD_SIZE=1000]
#
# moto keeps objects in memory and serves them from Python: the ratios are a
# floor for a real store.
# Set WITCURATE_BIN to benchmark an existing binary; otherwise a release
# build is made first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MB="${1:-64}"
FILES="${2:-4}"
IMAGES="${3:-4000}"
SHARD_SIZE="${4:-1000}"
WORK="${BENCH_DIR:-$ROOT/target/bench-storage}"
mkdir -p "$WORK"
bash scripts/setup.sh
PY="$ROOT/.venv-tools/bin/python"
if [ -z "${WITCURATE_BIN:-}" ]; then
  echo "==> building witcurate (release)" >&2
  cargo build --quiet --release --bin witcurate
  WITCURATE_BIN="$ROOT/target/release/witcurate"
fi
python3 scripts/bench_extract_data.py "$ROOT/tests/data/commoncrawl" "$WORK/data" "$MB" "$FILES"
rm -f "$WORK"/data/*.wat.gz

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ROOT/.venv-tools/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true' EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true
"$PY" - "$WORK/data" <<'PYEOF'
import os, sys, time, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
for _ in range(100):
    try:
        s3.create_bucket(Bucket="bench")
        break
    except Exception:
        time.sleep(0.2)
for name in sorted(os.listdir(sys.argv[1])):
    s3.upload_file(os.path.join(sys.argv[1], name), "bench", "warc/" + name)
PYEOF

run() { # run LABEL INPUT
  local out="$WORK/run-$1"
  rm -rf "$out"
  python3 - "$WITCURATE_BIN" "$out" "$1" "$2" <<'PYEOF'
import glob, json, os, resource, subprocess, sys, time
binary, out, label, inp = sys.argv[1:5]
t = time.time()
p = subprocess.run([binary, "--quiet", "crawl", "extract", "--out", out, "--input", inp],
                   capture_output=True, text=True)
wall = time.time() - t
if p.returncode != 0:
    sys.exit(p.stderr)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
raw = pairs = 0
for f in glob.glob(os.path.join(out, "_stats/extract/task-*.json")):
    c = json.load(open(f))["counters"]
    raw += c.get("bytes_raw", 0); pairs += c.get("pairs", 0)
print(f"{label:5s} {raw/1e6:7.1f} MB gz in {wall:6.2f} s: {raw/1e6/wall:6.1f} MB/s, "
      f"{pairs/wall:8.0f} pairs/s, peak RSS {rss:5.0f} MiB (largest child so far)")
open(out + ".rate", "w").write(str(raw / wall))
PYEOF
}
run local "$WORK/data"
run s3 "s3://bench/warc/"
python3 -c "
l = float(open('$WORK/run-local.rate').read()); s = float(open('$WORK/run-s3.rate').read())
print(f'ratio s3 / local: {s / l:.2f}')"

# Download: the photos of tests/data/photos served on 127.0.0.1 (their query
# strings make every URL distinct), IMAGES rows, shards of SHARD_SIZE.
WEB_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$WEB_PORT" --bind 127.0.0.1 --directory "$ROOT/tests/data/photos" >/dev/null 2>&1 &
WEB=$!
trap 'kill $MOTO $WEB 2>/dev/null || true' EXIT
python3 - "$WORK/images.tsv" "$WEB_PORT" "$IMAGES" <<'PYEOF'
import sys
out, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = ["rocket.jpg", "camera.png", "chelsea.png"]
with open(out, "w") as f:
    f.write("url\tcaption\n")
    for i in range(n):
        f.write(f"http://127.0.0.1:{port}/{names[i % 3]}?i={i}\tphoto {i}\n")
PYEOF
download() { # download LABEL OUT
  python3 - "$WITCURATE_BIN" "$2" "$1" "$WORK/images.tsv" "$SHARD_SIZE" "$WORK/staging" "$WORK/dl-$1.rate" <<'PYEOF'
import os, resource, subprocess, sys, time
binary, out, label, table, shard_size, staging, rate = sys.argv[1:8]
env = dict(os.environ, WITCURATE_STAGING_DIR=staging)
t = time.time()
p = subprocess.run([binary, "--quiet", "crawl", "download", "--out", out, "--input", table,
                    "--allow-private-addresses", "--shard-size", shard_size],
                   capture_output=True, text=True, env=env)
wall = time.time() - t
if p.returncode != 0:
    sys.exit(p.stderr)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
line = p.stdout.strip().splitlines()[-1]
images = int(line.split(" images")[0].split()[-1])
mb_out = float(line.split(" MB out")[0].split()[-1])
print(f"{label:5s} {images} images, {mb_out:.1f} MB of images in {wall:6.2f} s: "
      f"{images / wall:6.0f} images/s, {mb_out / wall:5.1f} MB/s written, peak RSS {rss:5.0f} MiB")
open(rate, "w").write(str(1 / wall))
PYEOF
}
rm -rf "$WORK/dl-local" "$WORK/staging"
download local "$WORK/dl-local"
"$PY" - <<'PYEOF'
import os, boto3
s3 = boto3.resource("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
s3.Bucket("bench").objects.filter(Prefix="dl/").delete()
PYEOF
download s3 "s3://bench/dl"
python3 -c "
l = float(open('$WORK/dl-local.rate').read()); s = float(open('$WORK/dl-s3.rate').read())
print(f'download ratio s3 / local (throughput): {s / l:.2f}')"
du -sh "$WORK/dl-local/shards" | awk '{print "shards: " $1}'
