#!/usr/bin/env bash
# The main job, end to end, on bundled sample data. Offline: the only server is
# a local one on 127.0.0.1 that this script starts and stops itself.
#
#   scripts/demo.sh [OUT_DIR]          (default: demo-out/)
#
# Environment: DEMO_PAGES (default 240) and DEMO_STEPS (default 300) size the
# synthetic web (DEMO_PAGES English pages, and an eighth as many in German and
# in Japanese each) and the training run, DEMO_CHECKPOINT_EVERY (default 100) is
# the training checkpoint interval; CI uses smaller values.
#
# Resumable: kill it at any point and run the same command (same OUT_DIR)
# again; every stage skips what is complete, redoes the rest and the run ends
# with the same outputs as an uninterrupted one. The sample web's URLs embed
# the server's port, so the port chosen first is kept in OUT_DIR/web/port and
# reused.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="${1:-$ROOT/demo-out}"
DATA="$ROOT/tests/data"
PAGES=${DEMO_PAGES:-240}
LANG_PAGES=$(((PAGES + 7) / 8))
STEPS=${DEMO_STEPS:-300}
CHECKPOINT_EVERY=${DEMO_CHECKPOINT_EVERY:-100}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

bash scripts/setup.sh

echo "==> building witcurate"
cargo build --bin witcurate
BUILD_SECONDS=$SECONDS
WC="$ROOT/target/debug/witcurate"

echo
echo "==> 1. query vocabulary (Wikipedia sample + pageviews sample + WordNet)"
"$WC" vocab build --out "$OUT/vocab" \
  --wiki-dump "$DATA/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2" \
  --pageviews "$DATA/pageviews" \
  --wordnet /usr/share/wordnet

echo "==> 2. a small web to crawl (English, German and Japanese pages), served on 127.0.0.1"
# The port is chosen once and kept: the pages, the WARC and every later stage
# hold URLs with it. Written atomically (a killed write leaves no half file).
mkdir -p "$OUT/web"
PORT_FILE="$OUT/web/port"
rm -f "$OUT/web/".port.tmp-*
if [ -e "$PORT_FILE" ]; then
  PORT=$(cat "$PORT_FILE")
  if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
    echo "demo: $PORT_FILE does not hold a port number ('$PORT'); remove $OUT to start over" >&2
    exit 1
  fi
  echo "    resuming: serving on port $PORT again (from $PORT_FILE)"
else
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PORT_TMP="$OUT/web/.port.tmp-$(hostname)-$$"
  echo "$PORT" >"$PORT_TMP"
  mv "$PORT_TMP" "$PORT_FILE"
fi
"$WC" sample-web --out "$OUT/web" --base-url "http://127.0.0.1:$PORT" --pages "$PAGES" --seed 0 \
  --pages-per-language "$LANG_PAGES"
echo "    German and Japanese vocabularies from the sample web's stand-in Wikipedia dumps"
echo "    (the words are segmented for Japanese; small corpora, so every word seen twice counts)"
"$WC" --quiet vocab build --out "$OUT/vocabs" --lang de,ja \
  --wiki-dump "$OUT/web/wiki/dewiki-sample-web.xml" --wiki-dump "$OUT/web/wiki/jawiki-sample-web.xml" \
  --unigram-top-share 1 --unigram-min-count 2 --bigram-min-pmi 1 --bigram-min-count 2
# A server left by an earlier run killed without its process group (only this
# script's own process) still holds the port: stop it.
if [ -s "$OUT/web/server.pid" ]; then
  OLD=$(cat "$OUT/web/server.pid")
  if [[ "$OLD" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$OLD/cmdline" 2>/dev/null | grep -qF -- "http.server $PORT --bind 127.0.0.1 --directory $OUT/web/web"; then
    echo "    stopping the server an earlier run left (PID $OLD)"
    kill "$OLD" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$OLD" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$OUT/web/server.pid"
fi
if ! python3 - "$PORT" <<'PY'; then
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
  echo "demo: port $PORT on 127.0.0.1 is in use by another program, but this run's sample web" >&2
  echo "      (URLs in $OUT/web) needs it: stop that program and rerun, or use a new OUT_DIR" >&2
  exit 1
fi
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$OUT/web/web" >"$OUT/web/server.log" 2>&1 &
SERVER=$!
echo "$SERVER" >"$OUT/web/server.pid"
trap 'kill $SERVER 2>/dev/null || true; rm -f "$OUT/web/server.pid"' EXIT
up=0
for _ in $(seq 1 50); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/pages/0.html')" 2>/dev/null; then
    up=1
    break
  fi
  kill -0 "$SERVER" 2>/dev/null || break
  sleep 0.2
done
if [ "$up" != 1 ]; then
  echo "demo: the sample web's server on 127.0.0.1:$PORT did not start (see $OUT/web/server.log)" >&2
  exit 1
fi

RUN="$OUT/run"
echo
echo "==> 3. crawl: extract pairs from the crawl's WARC"
"$WC" crawl extract --out "$RUN" --input "$OUT/web/crawl/sample-web.warc.gz"
echo "    (also from the bundled real Common Crawl WARC/WAT sample, into $OUT/cc-sample)"
"$WC" --quiet crawl extract --out "$OUT/cc-sample" \
  --input "$DATA"/commoncrawl/*.warc "$DATA"/commoncrawl/*.wat

echo
echo "==> 4. crawl: match alt-texts against the vocabulary"
"$WC" crawl match --out "$RUN" --vocab "$OUT/vocab"
"$WC" --quiet crawl match --out "$OUT/cc-sample" --vocab "$OUT/vocab"

echo "    worldwide: the same crawl, each alt-text's language identified and matched against"
echo "    its language's vocabulary (English: $OUT/vocab; German, Japanese: $OUT/vocabs), into $OUT/world"
"$WC" --quiet crawl extract --out "$OUT/world" --input "$OUT/web/crawl/sample-web.warc.gz"
"$WC" crawl match --out "$OUT/world" --lid --lid-fallback en --vocab "$OUT/vocab" --vocab-dir "$OUT/vocabs"
"$WC" crawl balance --out "$OUT/world" --t 300
python3 - "$OUT/world/match.json" "$OUT/world/balance.json" <<'PY'
import json, sys
m, b = (json.load(open(p)) for p in sys.argv[1:])
seen = {k[5:]: v for k, v in m["counters"].items() if k.startswith("lang_")}
rows = {l["lang"]: l for l in b["languages"]}
print("    language  texts  matched  kept      t  tail share")
for lang in sorted(seen, key=lambda l: (-seen[l], l)):
    r = rows.get(lang)
    if r:
        print(f"    {lang:8} {seen[lang]:6} {r['rows_in']:8} {r['rows_kept']:5} {r['t']:6}  {100 * r['tail_share']:9.1f}%")
    else:
        print(f"    {lang:8} {seen[lang]:6}  (no vocabulary)")
PY

echo
echo "==> 5. crawl: balance (cap each entry; t is small for a small web)"
"$WC" crawl balance --out "$RUN" --t 300

echo
echo "==> 6. crawl: download and resize images into shards"
"$WC" crawl download --out "$RUN" --allow-private-addresses --shard-size 1000 --image-size 64
kill $SERVER 2>/dev/null || true
echo "    near-duplicates, and images near the held-out evaluation images, marked in $RUN/dedup/"
"$WC" crawl dedup --out "$RUN" --against "$OUT/web/eval"
echo "    balance again on what was downloaded and kept (one alt-text per image): $RUN/balanced/"
"$WC" crawl balance --out "$RUN" --pool downloaded --t 300

echo
echo "==> 7. train the bundled CLIP model on the kept images of the shards (tiny preset, CPU)"
"$WC" train --shards "$RUN/shards" --select "$RUN/dedup" "$RUN/balanced" --out "$OUT/train" --preset tiny \
  --steps "$STEPS" --batch-size 32 --lr 2e-3 --context-length 16 \
  --checkpoint-every "$CHECKPOINT_EVERY" --resume

echo
echo "==> 8. zero-shot evaluation on held-out images"
"$WC" eval --checkpoint "$OUT/train" --images "$OUT/web/eval" \
  --classes "$OUT/web/eval/classes.tsv" --json "$OUT/eval.json" | tee "$OUT/eval.txt"

echo
echo "==> 9. dataset statistics report"
"$WC" stats "$RUN" --vocab "$OUT/vocab"
"$WC" --quiet stats "$OUT/world"

echo
echo "vocabulary:    $OUT/vocab/queries.txt ($(wc -l <"$OUT/vocab/queries.txt") entries)"
echo "pairs:         $RUN/pairs/   matched: $RUN/matched/   selected: $RUN/selected/"
echo "shards:        $RUN/shards/   kept: $RUN/dedup/ and $RUN/balanced/"
echo "model:         $OUT/train/   evaluation: $OUT/eval.json"
echo "report:        $RUN/stats/report.html (worldwide: $OUT/world/stats/report.html)"
echo "time:          $((SECONDS / 60))m $((SECONDS % 60))s in all, of which the build took $((BUILD_SECONDS / 60))m $((BUILD_SECONDS % 60))s"
TOP1=$(python3 -c "import json; print('%.1f' % (100 * json.load(open('$OUT/eval.json'))['zero_shot']['top1']))")
echo "zero-shot top-1: ${TOP1}%"
