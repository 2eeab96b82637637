#!/usr/bin/env bash
# Benchmark of `witcurate vocab build` on Wikipedia XML: prints MB/s of XML per
# core and peak RSS. The input is the bundled enwiki sample replicated to
# SIZE_MB of XML and compressed as a multistream bzip2 dump (100 pages per
# stream, like Wikipedia's pages-articles-multistream files), then the same
# XML uncompressed (the counting pass without bzip2's decoding).
#   scripts/bench_vocab.sh [SIZE_MB] [THREADS] [MEMORY_LIMIT]   (defaults: 200, all cores, 4G)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB="${1:-200}"
THREADS="${2:-$(nproc)}"
MEM="${3:-4G}"
WORK="${BENCH_DIR:-target/bench-vocab}"
mkdir -p "$WORK"

# BENCH_PROFILE=dev measures the dev build (dependencies optimised, witcurate's
# own crates at opt-level 1) when a release build is not affordable;
# WITCURATE_BIN runs a binary built elsewhere.
if [ -n "${WITCURATE_BIN:-}" ]; then
  WC="$WITCURATE_BIN"
elif [ "${BENCH_PROFILE:-release}" = dev ]; then
  echo "==> building witcurate (dev profile)" >&2
  cargo build --quiet --bin witcurate
  WC=target/debug/witcurate
else
  echo "==> building witcurate (release)" >&2
  cargo build --quiet --release --bin witcurate
  WC=target/release/witcurate
fi

DUMP="$WORK/enwiki-bench-${SIZE_MB}MB-multistream.xml.bz2"
if [ ! -f "$DUMP" ]; then
  echo "==> writing $DUMP" >&2
  python3 - "$SIZE_MB" "$DUMP" <<'PY'
import bz2, re, sys
size_mb, out = int(sys.argv[1]), sys.argv[2]
src = "tests/data/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
xml = bz2.open(src, "rb").read()
head = xml[: xml.index(b"<page>")]
pages = re.findall(rb"<page>.*?</page>\n?", xml, re.S)
with open(out + ".tmp", "wb") as f:
    f.write(bz2.compress(head))
    written, rep = len(head), 0
    while written < size_mb * 1_000_000:
        for i in range(0, len(pages), 100):
            group = b"".join(p.replace(b"<title>", b"<title>r%d " % rep, 1) for p in pages[i : i + 100])
            f.write(bz2.compress(group, 9))
            written += len(group)
        rep += 1
    f.write(bz2.compress(b"</mediawiki>\n"))
import os; os.replace(out + ".tmp", out)
PY
fi

# The same XML uncompressed: what the counting pass costs without bzip2's
# decoding (BENCH_PLAIN=0 skips it).
PLAIN="${DUMP%.bz2}"
if [ "${BENCH_PLAIN:-1}" = 1 ] && [ ! -f "$PLAIN" ]; then
  bzip2 -dc "$DUMP" > "$PLAIN.tmp" && mv "$PLAIN.tmp" "$PLAIN"
fi

OUT="$WORK/out"
for INPUT in "$DUMP" $( [ "${BENCH_PLAIN:-1}" = 1 ] && echo "$PLAIN" ); do
rm -rf "$OUT"
echo "==> vocab build: $INPUT ($(du -m "$INPUT" | cut -f1) MB), $THREADS threads, memory limit $MEM" >&2
python3 - "$WC" "$INPUT" "$OUT" "$THREADS" "$MEM" <<'PY'
import json, resource, subprocess, sys, time
wc, dump, out, threads, mem = sys.argv[1:]
t = time.time()
subprocess.run([wc, "vocab", "build", "--quiet", "--out", out, "--wiki-dump", dump,
                "--threads", threads, "--memory-limit", mem], check=True)
wall = time.time() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rss = ru.ru_maxrss / 1024
cpu = ru.ru_utime + ru.ru_stime
j = json.load(open(out + "/vocab.json"))
w = j["wikipedia"]["stats"]
xml_mb = w["xml_bytes"] / 1e6
count_s = j["run"]["seconds"]["count"]
print(f"xml: {xml_mb:.0f} MB, {w['articles']} articles, {j['wikipedia']['total_tokens']} tokens")
print(f"wall: {wall:.1f} s (count {count_s:.1f} s, select {j['run']['seconds']['select']:.1f} s)")
print(f"throughput: {xml_mb / wall:.1f} MB/s of XML, {xml_mb / wall / int(threads):.1f} MB/s per core ({threads} threads)")
print(f"cpu: {cpu:.1f} s, {xml_mb / cpu:.1f} MB of XML per CPU-second (per-core speed, even on a busy machine)")
print(f"peak RSS: {rss:.0f} MiB; spilled: {j['run']['spilled_bytes'] / 1e6:.0f} MB")
PY
done
