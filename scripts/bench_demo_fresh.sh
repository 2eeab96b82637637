#!/usr/bin/env bash
# Times the README's main command the way a newcomer meets it: a fresh clone
# of this checkout's HEAD, an empty target directory, then `scripts/demo.sh`
# (build included). Prints the wall time of the whole run, the build's share
# (from the demo's own timing line), the zero-shot accuracy and the peak RSS
# of the largest process (rustc included).
#
#   scripts/bench_demo_fresh.sh [WORK_DIR]     (default: a new temporary directory)
#
# Crates come from cargo's download cache when present (a first fetch adds
# network time). DEMO_PAGES / DEMO_STEPS are passed through to the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK="${1:-$(mktemp -d /tmp/witcurate-fresh.XXXXXX)}"
mkdir -p "$WORK"
rm -rf "$WORK/clone"
git clone --quiet "$ROOT" "$WORK/clone"
echo "==> fresh clone of $(git -C "$ROOT" rev-parse --short HEAD) in $WORK/clone; running scripts/demo.sh" >&2
cd "$WORK/clone"
unset CARGO_TARGET_DIR
python3 - "$WORK/demo.log" <<'PY'
import re, resource, subprocess, sys, time
log_path = sys.argv[1]
t = time.time()
with open(log_path, "w") as log:
    p = subprocess.Popen(["bash", "scripts/demo.sh"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:
        sys.stderr.write(line)
        log.write(line)
    rc = p.wait()
wall = time.time() - t
if rc != 0:
    sys.exit(f"demo failed (exit {rc}); log: {log_path}")
text = open(log_path).read()
build = re.search(r"the build took (\d+)m (\d+)s", text)
top1 = re.search(r"^zero-shot top-1: (.*)$", text, re.M)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
b = int(build.group(1)) * 60 + int(build.group(2)) if build else 0
mmss = lambda s: f"{int(s) // 60}m {int(s) % 60:02d}s"
print(f"whole demo from a fresh clone: {mmss(wall)} "
      f"(build {mmss(b)}, jobs {wall - b:.0f}s); "
      f"zero-shot top-1 {top1.group(1) if top1 else '?'}; largest process (rustc included) {rss:.0f} MiB")
PY
