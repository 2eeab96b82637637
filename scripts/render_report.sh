#!/usr/bin/env bash
# Renders an HTML report (e.g. RUN/stats/report.html) to a PNG with headless
# Chromium, as a person would see it. Installs Debian's `chromium` if missing.
#   scripts/render_report.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTH=1100] [HEIGHT=full page]" >&2
  exit 2
fi
html=$(realpath "$1")
out=$(realpath -m "$2")
width="${3:-1100}"
[ -f "$html" ] || { echo "render_report: $html: no such file" >&2; exit 1; }

chrome=""
for c in chromium chromium-browser google-chrome; do
  if command -v "$c" >/dev/null 2>&1; then chrome="$c"; break; fi
done
if [ -z "$chrome" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "render_report: chromium is missing (run as root or install it)" >&2; exit 1; }
    SUDO="sudo"
  fi
  echo "render_report: installing chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  chrome=chromium
fi

# Height: the whole page unless given. Chromium's --screenshot captures the
# window, so estimate the page height from the report's own layout: ask
# Chromium for the document height first (dump-dom of a tiny probe page).
height="${4:-}"
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --disable-extensions --hide-scrollbars --user-data-dir="$profile")
if [ -z "$height" ]; then
  probe="$profile/probe.html"
  {
    cat "$html"
    echo '<script>document.title="H="+document.documentElement.scrollHeight;</script>'
  } > "$probe"
  height=$("$chrome" "${flags[@]}" --window-size="$width,800" --virtual-time-budget=2000 \
    --dump-dom "file://$probe" 2>/dev/null | grep -o '<title>H=[0-9]*' | head -n1 | grep -o '[0-9]*$' || true)
  height="${height:-3000}"
  [ "$height" -gt 16000 ] && height=16000
fi
mkdir -p "$(dirname "$out")"
"$chrome" "${flags[@]}" --window-size="$width,$height" --screenshot="$out" "file://$html" >/dev/null 2>&1
[ -s "$out" ] || { echo "render_report: chromium wrote no image" >&2; exit 1; }
echo "render_report: $out (${width}x${height})"
