#!/usr/bin/env bash
# Benchmarks `witcurate crawl match` (and balance) at full size, beside
# MetaCLIP's published matcher (pyahocorasick variant) on the same data.
#   scripts/bench_match.sh
# Environment: TEXTS (default 1000000), VOCAB_SIZE (500000), PARTS (8),
# WORK (target/bench-match), THREADS (every core), REPEAT (3: the 1-thread
# runs, MetaCLIP's matcher and the matcher alone are each run that many
# times and their medians compared), PROFILE (release, or dev
# to reuse the test build), WITCURATE_BIN (a binary to run instead of
# building one), MATCH_TEXTS_BIN (likewise for the matcher-only example).
# Prints captions/s per core, MB/s, automaton build time and peak RSS of
# each, the per-core ratio, and whether both found exactly the same matches.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TEXTS=${TEXTS:-1000000}
VOCAB_SIZE=${VOCAB_SIZE:-500000}
PARTS=${PARTS:-8}
WORK=${WORK:-$ROOT/target/bench-match}
THREADS=${THREADS:-$(nproc)}
REPEAT=${REPEAT:-3}

bash scripts/setup.sh
VENV="$ROOT/target/bench-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import pyarrow, ahocorasick" 2>/dev/null \
  || "$VENV/bin/pip" install --quiet pyarrow pyahocorasick
PY="$VENV/bin/python"

if [ -n "${WITCURATE_BIN:-}" ]; then
  WC="$WITCURATE_BIN"
elif [ "${PROFILE:-release}" = release ]; then
  echo "==> building witcurate (release)"
  cargo build --release --quiet --bin witcurate
  WC="$ROOT/target/release/witcurate"
else
  echo "==> building witcurate (dev profile: dependencies optimised, workspace crates -O1)"
  cargo build --quiet --bin witcurate
  WC="$ROOT/target/debug/witcurate"
fi

if [ -n "${MATCH_TEXTS_BIN:-}" ]; then
  MT="$MATCH_TEXTS_BIN"
else
  echo "==> building the matcher-only example (release)"
  cargo build --release --quiet -p pipeline --example match_texts
  MT="$ROOT/target/release/examples/match_texts"
fi

DATA="$WORK/data-$VOCAB_SIZE-$TEXTS"
if [ ! -f "$DATA/done" ]; then
  echo "==> synthesising $VOCAB_SIZE vocabulary entries and $TEXTS alt-texts"
  rm -rf "$DATA"
  "$PY" scripts/bench_match_data.py --texts "$TEXTS" --vocab-size "$VOCAB_SIZE" \
    --parts "$PARTS" --out "$DATA"
  touch "$DATA/done"
fi
MB=$(du -sm "$DATA/run/pairs" | cut -f1)
TEXT_MB=$("$PY" -c "
import glob, pyarrow.parquet as pq, pyarrow.compute as pc
n = sum(pc.sum(pc.binary_length(pq.read_table(p, columns=['text']).column('text'))).as_py()
        for p in glob.glob('$DATA/run/pairs/part-*.parquet'))
print(f'{n / 1e6:.1f}')")
echo "data: $VOCAB_SIZE entries, $TEXTS texts ($TEXT_MB MB of text, $MB MB parquet in $PARTS parts)"

# measure LABEL CMD...: runs CMD, prints its stdout, and its wall time and peak RSS.
measure() {
  local label=$1; shift
  "$PY" - "$label" "$@" <<'PYEOF'
import resource, subprocess, sys, time
label, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(p.stdout)
print(f"{label}: wall {wall:.2f}s, cpu {ru.ru_utime + ru.ru_stime:.2f}s, "
      f"peak RSS {ru.ru_maxrss / 1024:.0f} MiB")
sys.exit(p.returncode)
PYEOF
}

fresh_run() {
  rm -rf "$1"; mkdir -p "$1"
  ln -s "$DATA/run/pairs" "$1/pairs"
  mkdir -p "$1/_stages"
  ln -s "$DATA/run/_stages/extract" "$1/_stages/extract"
}

rm -f "$WORK"/run1.*.txt "$WORK"/run0.*.txt "$WORK"/py.*.txt "$WORK"/mt.*.txt
echo
echo "==> witcurate crawl match, 1 thread ($REPEAT runs)"
for k in $(seq "$REPEAT"); do
  fresh_run "$WORK/run1"
  measure "witcurate 1 thread" "$WC" --quiet --threads 1 crawl match --out "$WORK/run1" \
    --vocab "$DATA/vocab" | tee "$WORK/run1.$k.txt"
done
echo
echo "==> witcurate crawl match, 1 thread, one 1-row part (loading and building only; $REPEAT runs)"
rm -rf "$WORK/run0"; mkdir -p "$WORK/run0/pairs" "$WORK/run0/_stages"
ln -s "$DATA/run/_stages/extract" "$WORK/run0/_stages/extract"
"$PY" -c "
import pyarrow.parquet as pq
pq.write_table(pq.read_table('$DATA/run/pairs/part-00000.parquet').slice(0, 1),
               '$WORK/run0/pairs/part-00000.parquet')"
for k in $(seq "$REPEAT"); do
  rm -rf "$WORK/run0/matched" "$WORK/run0/counts" "$WORK/run0/_stages/match" "$WORK/run0/_stats" \
    "$WORK/run0/counts.parquet" "$WORK/run0/match.json"
  measure "witcurate build only" "$WC" --quiet --threads 1 crawl match --out "$WORK/run0" \
    --vocab "$DATA/vocab" | tee "$WORK/run0.$k.txt"
done
echo
echo "==> witcurate crawl match, $THREADS threads"
fresh_run "$WORK/runN"
measure "witcurate $THREADS threads" "$WC" --quiet --threads "$THREADS" crawl match \
  --out "$WORK/runN" --vocab "$DATA/vocab" | tee "$WORK/runN.txt"
echo
echo "==> MetaCLIP substr_matching (pyahocorasick), 1 process ($REPEAT runs)"
for k in $(seq "$REPEAT"); do
  measure "metaclip-python" "$PY" scripts/bench_match_metaclip.py --vocab "$DATA/vocab/queries.txt" \
    --pairs "$DATA/run/pairs" --counts-out "$WORK/py_counts.tsv" | tee "$WORK/py.$k.txt"
done
echo
echo "==> witcurate's matcher alone (texts in memory, 1 thread), as the Python matcher is timed ($REPEAT runs)"
for k in $(seq "$REPEAT"); do
  "$MT" "$DATA/vocab/queries.txt" "$DATA/run/pairs" "$WORK/mt_counts.tsv" | tee "$WORK/mt.$k.txt"
done
echo
echo "==> witcurate crawl match --rule word-boundary, $THREADS threads"
fresh_run "$WORK/runW"
measure "witcurate word-boundary" "$WC" --quiet --threads "$THREADS" crawl match \
  --rule word-boundary --out "$WORK/runW" --vocab "$DATA/vocab" | tee "$WORK/runW.txt"
echo
echo "==> the two rules on real alt-texts and captions from tests/data (same vocabulary)"
rm -rf "$WORK/realM" "$WORK/realW"
"$PY" scripts/bench_match_rules.py pairs "$WORK/realM"
cp -r "$WORK/realM" "$WORK/realW"
"$WC" --quiet crawl match --out "$WORK/realM" --vocab "$DATA/vocab" >/dev/null
"$WC" --quiet crawl match --out "$WORK/realW" --vocab "$DATA/vocab" --rule word-boundary >/dev/null
"$PY" scripts/bench_match_rules.py compare "$DATA/vocab/queries.txt" "$WORK/realM" "$WORK/realW" \
  | tee "$WORK/rules.txt"
echo
echo "==> witcurate crawl balance (soft, t=20000 and t=100), $THREADS threads"
measure "balance t=20000" "$WC" --quiet --threads "$THREADS" crawl balance --out "$WORK/runN"
rm -rf "$WORK/runB"; cp -r "$WORK/runN" "$WORK/runB"; rm -rf "$WORK/runB/selected" "$WORK/runB/balance_counts" \
  "$WORK/runB/balance.json" "$WORK/runB/balance_counts.parquet"
measure "balance t=100" "$WC" --quiet --threads "$THREADS" crawl balance --out "$WORK/runB" --t 100 --force

echo
echo "==> summary (load average: $(cut -d" " -f1-3 /proc/loadavg), $(nproc) cores)"
"$PY" - "$WORK" "$TEXT_MB" "$THREADS" "$TEXTS" <<'PYEOF'
import json, re, sys
import pyarrow.parquet as pq
import glob
work, text_mb, threads, texts = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cpu = lambda path: float(re.search(r"cpu ([\d.]+)s", open(path).read()).group(1))
def rate(path):
    s = open(path).read()
    m = re.search(r"([\d.]+) pairs/s, ([\d.]+) MB/s; (?:automaton|matcher) (.+?) built in ([\d.]+)s", s)
    rss = re.search(r"peak RSS (\d+) MiB", s)
    return float(m.group(1)), float(m.group(2)), m.group(3), float(m.group(4)), int(rss.group(1))
median = lambda xs: sorted(xs)[len(xs) // 2]
runs = lambda name: sorted(glob.glob(f"{work}/{name}.*.txt"))
# The 1-thread run of median rate, and the median of each other figure.
r1s = [rate(p) for p in runs("run1")]
r1 = median(r1s)
rn, rw = rate(f"{work}/runN.txt"), rate(f"{work}/runW.txt")
pys = [open(p).read() for p in runs("py")]
py_num = lambda key: [float(re.search(key + r"=([\d.]+)", t).group(1)) for t in pys]
py_rates = py_num("PY_TEXTS_PER_S")
py_rate = median(py_rates)
py = pys[0]
py_build = float(re.search(r"build ([\d.]+)s", py).group(1))
py_rss = int(re.search(r"metaclip-python: wall .* peak RSS (\d+) MiB", py).group(1))
print(f"runs                : {len(r1s)} of each; witcurate 1 thread "
      f"{min(r[0] for r in r1s):,.0f}-{max(r[0] for r in r1s):,.0f} captions/s, MetaCLIP python "
      f"{min(py_rates):,.0f}-{max(py_rates):,.0f}; medians below")
print(f"witcurate, 1 thread : {r1[0]:,.0f} captions/s per core, {r1[1]:.1f} MB/s, "
      f"automaton {r1[2]} built in {r1[3]:.2f}s, peak RSS {r1[4]} MiB")
print(f"witcurate, {threads} threads: {rn[0]:,.0f} captions/s ({rn[0] / threads:,.0f} per core), "
      f"{rn[1]:.1f} MB/s, peak RSS {rn[4]} MiB")
print(f"MetaCLIP python     : {py_rate:,.0f} captions/s per core, automaton built in "
      f"{py_build:.2f}s, peak RSS {py_rss} MiB")
print(f"ratio per core      : {r1[0] / py_rate:.1f}x (witcurate / MetaCLIP python)")
# CPU time, which contention from other processes inflates less than wall time:
# witcurate's tasks (every thread of the 1-thread run, less a run that only
# loads the vocabulary and builds the matcher) against the CPU time of
# MetaCLIP's matching loop.
w_cpu = texts / max(median([cpu(p) for p in runs("run1")])
                    - median([cpu(p) for p in runs("run0")]), 1e-9)
py_cpu = median(py_num("PY_CPU_TEXTS_PER_S"))
mt = median([float(re.search(r"MATCH_ONLY_TEXTS_PER_S=([\d.]+)", open(p).read()).group(1))
             for p in runs("mt")])
mtc = {int(i): int(c) for i, c in (l.split("\t") for l in open(f"{work}/mt_counts.tsv"))}
print(f"matcher alone       : witcurate {mt:,.0f} captions/s on 1 thread, MetaCLIP python {py_rate:,.0f}: "
      f"{mt / py_rate:.1f}x (both: texts in memory, matching only)")
print(f"per CPU-second      : witcurate {w_cpu:,.0f} captions (tasks: read, match, write), "
      f"MetaCLIP python {py_cpu:,.0f} (matching only): {w_cpu / py_cpu:.1f}x")
print(f"word-boundary rule  : {rw[0]:,.0f} captions/s on {threads} threads")
rust = {}
for b in pq.read_table(f"{work}/runN/counts.parquet").to_batches():
    for i, c in zip(b.column(0).to_pylist(), b.column(1).to_pylist()):
        rust[i] = c
pyc = {int(i): int(c) for i, c in (l.split("\t") for l in open(f"{work}/py_counts.tsv"))}
print(f"per-entry counts identical to MetaCLIP's: {'yes' if rust == pyc == mtc else 'NO'} "
      f"({len(rust)} entries matched, {sum(rust.values())} matches)")
m, w = json.load(open(f"{work}/runN/match.json")), json.load(open(f"{work}/runW/match.json"))
print("rules compared      : metaclip {} pairs matched, {} matches, {} entries; "
      "word-boundary {} pairs matched, {} matches, {} entries".format(
          m["counters"]["pairs_matched"], m["counters"]["matches"], m["entries_matched"],
          w["counters"]["pairs_matched"], w["counters"]["matches"], w["entries_matched"]))
for t in ("runN", "runB"):
    b = json.load(open(f"{work}/{t}/balance.json"))
    print(f"balance t={b['t']}: {b['counters']['pairs_in']} -> {b['counters']['pairs_kept']} pairs, "
          f"{b['entries_capped']} entries capped, largest count after {b['max_count_after']}")
PYEOF
