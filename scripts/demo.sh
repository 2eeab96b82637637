#!/usr/bin/env bash
# The main job, end to end, on the bundled sample data. Offline.
#   scripts/demo.sh [OUT_DIR]     (default: demo-out/)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="${1:-$ROOT/demo-out}"
DATA="$ROOT/tests/data"

bash scripts/setup.sh

echo "==> building witcurate"
cargo build --quiet --bin witcurate
WC="$ROOT/target/debug/witcurate"
mkdir -p "$OUT"

echo "==> 1. query vocabulary"
"$WC" vocab build --out "$OUT/vocab" \
  --wiki-dump "$DATA/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2" \
  --pageviews "$DATA/pageviews" \
  --wordnet /usr/share/wordnet

echo
echo "vocabulary: $OUT/vocab/queries.txt ($(wc -l < "$OUT/vocab/queries.txt") entries)"
