#!/usr/bin/env bash
# Benchmark of `witcurate vocab build` on Wikipedia XML: prints MB/s of XML per
# core and peak RSS. The input is the bundled enwiki sample replicated to
# SIZE_MB of XML and compressed as a multistream bzip2 dump (100 pages per
# stream, like Wikipedia's pages-articles-multistream files), then the same
# XML as one bzip2 stream, then uncompressed (the counting pass without
# bzip2's decoding); BENCH_PLAIN=0 runs the multistream dump only.
#   scripts/bench_vocab.sh [SIZE_MB] [THREADS] [MEMORY_LIMIT]   (defaults: 200, all cores, 4G)
# Each build runs REPEAT (3) times; medians are printed. Last, bzip2 decoding
# alone, witcurate's decoder against libbzip2, one thread.
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

# The same XML as one bzip2 stream of many blocks, as `bzip2 -9` writes it
# (Wikimedia's non-multistream dumps): its blocks are decoded in parallel too.
SINGLE="${DUMP%-multistream.xml.bz2}-single.xml.bz2"
if [ "${BENCH_PLAIN:-1}" = 1 ] && [ ! -f "$SINGLE" ]; then
  bzip2 -9 -c "$PLAIN" > "$SINGLE.tmp" && mv "$SINGLE.tmp" "$SINGLE"
fi

OUT="$WORK/out"
REPEAT="${REPEAT:-3}"
for INPUT in "$DUMP" $( [ "${BENCH_PLAIN:-1}" = 1 ] && echo "$SINGLE $PLAIN" ); do
echo "==> vocab build: $INPUT ($(du -m "$INPUT" | cut -f1) MB), $THREADS threads, memory limit $MEM, $REPEAT runs" >&2
python3 - "$WC" "$INPUT" "$OUT" "$THREADS" "$MEM" "$REPEAT" <<'PY'
import json, resource, shutil, statistics, subprocess, sys, time
wc, dump, out, threads, mem, repeat = sys.argv[1:]
runs = []
for _ in range(int(repeat)):
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.time()
    subprocess.run([wc, "vocab", "build", "--quiet", "--out", out, "--wiki-dump", dump,
                    "--threads", threads, "--memory-limit", mem], check=True)
    wall = time.time() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    runs.append((wall, cpu))
    print(f"  run: wall {wall:.2f} s, cpu {cpu:.2f} s (user {after.ru_utime - before.ru_utime:.2f}, system {after.ru_stime - before.ru_stime:.2f})")
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
wall = statistics.median(r[0] for r in runs)
cpu = statistics.median(r[1] for r in runs)
j = json.load(open(out + "/vocab.json"))
w = j["wikipedia"]["stats"]
xml_mb = w["xml_bytes"] / 1e6
print(f"xml: {xml_mb:.0f} MB, {w['articles']} articles, {j['wikipedia']['total_tokens']} tokens")
print(f"median wall: {wall:.1f} s; throughput {xml_mb / wall:.1f} MB/s of XML, {xml_mb / wall / int(threads):.1f} MB/s per core ({threads} threads)")
print(f"median cpu: {cpu:.2f} s, {xml_mb / cpu:.1f} MB of XML per CPU-second (per-core speed, even on a busy machine)")
print(f"peak RSS: {rss:.0f} MiB; spilled: {j['run']['spilled_bytes'] / 1e6:.0f} MB")
PY
done

# bzip2 decoding alone, one thread: witcurate's decoder against libbzip2 on
# the same dump (DECODE_FILE_BIN runs an example built elsewhere).
if [ -n "${DECODE_FILE_BIN:-}" ]; then
  DF="$DECODE_FILE_BIN"
else
  cargo build --quiet --release -p bzip2_decoder --example decode_file
  DF=target/release/examples/decode_file
fi
echo "==> bzip2 decoding alone, 1 thread (best of $REPEAT)" >&2
"$DF" "$DUMP" "$REPEAT"
