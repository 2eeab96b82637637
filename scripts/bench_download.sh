#!/usr/bin/env bash
# Download benchmark: witcurate vs img2dataset on the same local URL list.
#   scripts/bench_download.sh [N_IMAGES]        (default 3000)
#   IMAGES=web scripts/bench_download.sh 3000   (lighter, web-like mix)
# Generates N images (IMAGES=heavy, the default: 1 in 4 PNG, 200-1200 px,
# noisy, ~250 KB each; IMAGES=web: 1 in 10 PNG, ~500 px, ~30 KB each; see
# scripts/bench_download_server.py), serves them from 127.0.0.1, and runs both downloaders with image size 256 and resize mode
# border, printing images/s and peak RSS (whole process tree) for each.
# Installs img2dataset, Pillow and pyarrow into target/bench-venv.
# WITCURATE_BIN overrides the binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-3000}"
IMAGES="${IMAGES:-heavy}"
WORK="target/bench-download"
VENV="target/bench-venv"
mkdir -p "$WORK"

if [ ! -x "$VENV/bin/img2dataset" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check img2dataset pillow pyarrow
fi
if [ -z "${WITCURATE_BIN:-}" ]; then
  cargo build --release --quiet --bin witcurate
  WITCURATE_BIN=target/release/witcurate
fi

DATA="$WORK/data-$IMAGES-$N"
mkdir -p "$DATA"
rm -f "$DATA/port"
"$VENV/bin/python" scripts/bench_download_server.py "$DATA" "$N" "$DATA/port" "$IMAGES" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do [ -f "$DATA/port" ] && break; sleep 0.5; done
[ -f "$DATA/port" ] || { echo "server did not start" >&2; exit 1; }
echo "serving $N $IMAGES images ($(du -sh "$DATA/images" | cut -f1)) on 127.0.0.1:$(cat "$DATA/port"); $(nproc) cores"

rm -rf "$WORK/out-witcurate" "$WORK/out-img2dataset"
# Every URL is on one host here, so the per-host limit (16 by default, a
# politeness bound for real crawls, where URLs spread over many hosts) is raised
# to 64; img2dataset has no per-host limit and keeps 2 x 64 requests in flight.
"$VENV/bin/python" scripts/bench_measure.py witcurate "$N" -- \
  "$WITCURATE_BIN" crawl download --quiet --out "$WORK/out-witcurate" --input "$DATA/urls.parquet" \
  --allow-private-addresses --image-size 256 --resize-mode border --retries 0 --timeout 30 \
  --per-host-concurrency 64

"$VENV/bin/python" scripts/bench_measure.py img2dataset "$N" -- \
  "$VENV/bin/img2dataset" --url_list "$DATA/urls.parquet" --input_format parquet \
  --url_col url --caption_col caption --output_format parquet \
  --output_folder "$WORK/out-img2dataset" --image_size 256 --resize_mode border \
  --processes_count "$(nproc)" --thread_count 64 --retries 0 --timeout 30 \
  --number_sample_per_shard 10000 --enable_wandb False --distributor multiprocessing

python3 - "$WORK" <<'PY'
import json, glob, sys
work = sys.argv[1]
for tool in ("witcurate", "img2dataset"):
    ok = total = 0
    for p in glob.glob(f"{work}/out-{tool}/*_stats.json") + glob.glob(f"{work}/out-{tool}/shards/*_stats.json"):
        s = json.load(open(p))
        ok += s["successes"]; total += s["count"]
    print(f"{tool:12s} {ok}/{total} images written")
PY
