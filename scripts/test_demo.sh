#!/usr/bin/env bash
# Runs scripts/demo.sh at a reduced size in a temporary directory and checks
# that every stage produced its outputs, the model learned (zero-shot top-1 at
# least three times chance) and the last line reports the zero-shot accuracy;
# then, with that run as the reference, that a run killed inside every stage
# and restarted ends the same (scripts/test_demo_resume.sh;
# WITCURATE_SKIP_DEMO_RESUME=1 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/witcurate-demo-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

export DEMO_PAGES=${DEMO_PAGES:-60} DEMO_STEPS=${DEMO_STEPS:-40} DEMO_CHECKPOINT_EVERY=${DEMO_CHECKPOINT_EVERY:-10}
bash scripts/demo.sh "$WORK/out" | tee "$WORK/demo.log"

pass=0
fail=0
check() { # check NAME CMD...
  local name=$1
  shift
  if "$@"; then echo "ok: $name"; pass=$((pass + 1)); else echo "FAILED: $name"; fail=$((fail + 1)); fi
}
some() { compgen -G "$1" >/dev/null; } # some GLOB: at least one file matches
O=$WORK/out
check vocabulary_written test -s "$O/vocab/queries.txt"
check pairs_written some "$O/run/pairs/part-*.parquet"
check matched_written some "$O/run/matched/part-*.parquet"
check selected_written some "$O/run/selected/part-*.parquet"
check shards_written some "$O/run/shards/*.parquet"
check dedup_written some "$O/run/dedup/part-*.parquet"
check balanced_after_download some "$O/run/balanced/part-*.parquet"
check balanced_summary grep -q '^balance_downloaded: t = 300' "$WORK/demo.log"
check checkpoint_written some "$O/train/step-*"
check evaluation_written test -s "$O/eval.json"
check report_written test -s "$O/run/stats/report.html"
# The worldwide run: German and Japanese vocabularies, pages identified and
# matched per language, balanced with a t per language, counts printed.
check vocab_per_language test -s "$O/vocabs/de/queries.txt" -a -s "$O/vocabs/ja/queries.txt"
check japanese_segmented grep -qx '三角形' "$O/vocabs/ja/queries.txt"
check languages_matched python3 -c "import json, sys; c = json.load(open('$O/world/match.json'))['counters']; sys.exit(0 if min(c.get('lang_' + l, 0) for l in ('en', 'de', 'ja')) > 0 else 1)"
check t_per_language python3 -c "import json, sys; b = json.load(open('$O/world/balance.json')); sys.exit(0 if {l['lang'] for l in b['languages'] if l['rows_kept'] > 0} >= {'en', 'de', 'ja'} else 1)"
check per_language_counts_printed grep -Eq '^    ja +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ ' "$WORK/demo.log"
check languages_in_report grep -q '## Languages' "$O/world/stats/report.md"
# "Clearly above chance": at least three times the chance top-1 (the reduced
# run reaches about six times).
check model_learned python3 -c "import json, sys; z = json.load(open('$O/eval.json'))['zero_shot']; sys.exit(0 if z['top1'] >= 3 * z['chance_top1'] else 1)"
check time_reported grep -Eq '^time: +[0-9]+m [0-9]+s in all, of which the build took [0-9]+m [0-9]+s$' "$WORK/demo.log"
check last_line_is_accuracy bash -c "tail -n1 '$WORK/demo.log' | grep -Eq '^zero-shot top-1: [0-9]+\.[0-9]%$'"
echo "demo: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

if [ "${WITCURATE_SKIP_DEMO_RESUME:-0}" != 1 ]; then
  echo "==> the same run, killed in every stage and restarted"
  bash scripts/test_demo_resume.sh "$WORK/out"
fi
