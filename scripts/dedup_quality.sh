#!/usr/bin/env bash
# Precision and recall of `crawl dedup`'s near-duplicate detector (64-bit DCT
# pHash, Hamming distance <= k) on real photos, for k = 0..16.
#
# Originals: the real photos bundled with scikit-image (pip package, sample
# data; public domain, CC0 or CC BY, see `skimage.data`), synthetic test
# patterns excluded. Copies: each original transformed as the web transforms
# images (downscaled to a third, upscaled, JPEG quality 15, cropped 5% and
# 10% of each side, padded to a square with white like img2dataset's border
# mode, grey, mirrored, and a downscale + JPEG combination). Both folders are
# hashed by `witcurate hash-images`, the code path of the download stage.
#
# Positives: (original, its own copy); negatives: (original, a copy of another
# original) and (original, another original). Prints one Markdown table of
# precision/recall per k and one of recall per transform at the given K.
#   scripts/dedup_quality.sh [K=4]
# Environment: WORK (default target/dedup-quality), PROFILE (release or dev).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
K=${1:-4}
WORK=${WORK:-$ROOT/target/dedup-quality}
VENV="$ROOT/target/bench-venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import skimage, PIL, pyarrow" 2>/dev/null ||
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "scikit-image==0.26.0" "pillow>=10" "pyarrow==26.0.1"
PY="$VENV/bin/python"

if [ "${PROFILE:-release}" = release ]; then
  cargo build --release --quiet --bin witcurate
  WC="$ROOT/target/release/witcurate"
else
  cargo build --quiet --bin witcurate
  WC="$ROOT/target/debug/witcurate"
fi

rm -rf "$WORK"
mkdir -p "$WORK/originals" "$WORK/copies"
"$PY" - "$WORK" <<'PYEOF'
import os, sys
import skimage.data
from PIL import Image, ImageOps

work = sys.argv[1]
data = os.path.dirname(skimage.data.__file__)
# The photographs among scikit-image's bundled samples (not the synthetic
# patterns, logos or the second view of the motorcycle stereo pair).
photos = ["astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png",
          "clock_motion.png", "coffee.png", "coins.png", "grass.png", "gravel.png",
          "hubble_deep_field.jpg", "ihc.png", "microaneurysms.png", "moon.png",
          "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "text.png"]

def crop(im, f):
    w, h = im.size
    dx, dy = int(w * f), int(h * f)
    return im.crop((dx, dy, w - dx, h - dy))

def pad(im):
    w, h = im.size
    s = max(w, h)
    out = Image.new("RGB", (s, s), (255, 255, 255))
    out.paste(im, ((s - w) // 2, (s - h) // 2))
    return out

def jpeg(im, q, path):
    im.save(path, "JPEG", quality=q)

transforms = {
    "downscale": lambda im: im.resize((max(8, im.width // 3), max(8, im.height // 3)), Image.BICUBIC),
    "upscale": lambda im: im.resize((im.width * 2, im.height * 2), Image.LANCZOS),
    "jpeg_q15": None,
    "crop5": lambda im: crop(im, 0.05),
    "crop10": lambda im: crop(im, 0.10),
    "pad_square": pad,
    "grey": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "mirror": ImageOps.mirror,
    "downscale_jpeg_q30": None,
}
for name in photos:
    im = Image.open(os.path.join(data, name)).convert("RGB")
    stem = os.path.splitext(name)[0]
    im.save(os.path.join(work, "originals", stem + ".png"))
    for t, f in transforms.items():
        out = os.path.join(work, "copies", f"{stem}__{t}")
        if t == "jpeg_q15":
            jpeg(im, 15, out + ".jpg")
        elif t == "downscale_jpeg_q30":
            jpeg(transforms["downscale"](im), 30, out + ".jpg")
        else:
            f(im).save(out + ".png")
print(f"{len(photos)} originals, {len(photos) * len(transforms)} copies", file=sys.stderr)
PYEOF

"$WC" --quiet hash-images --images "$WORK/originals" --out "$WORK/originals.parquet"
"$WC" --quiet hash-images --images "$WORK/copies" --out "$WORK/copies.parquet"

"$PY" - "$WORK" "$K" <<'PYEOF'
import os, sys
import pyarrow.parquet as pq

work, K = sys.argv[1], int(sys.argv[2])
def load(name):
    t = pq.read_table(os.path.join(work, name)).to_pydict()
    return [(os.path.basename(p), h) for p, h in zip(t["path"], t["phash"])]
orig = {os.path.splitext(p)[0]: h for p, h in load("originals.parquet")}
copies = []
for p, h in load("copies.parquet"):
    stem, t = os.path.splitext(p)[0].split("__")
    copies.append((stem, t, h))
dist = lambda a, b: bin(a ^ b).count("1")
pos = [(t, dist(orig[s], h)) for s, t, h in copies]
neg = [dist(orig[o], h) for o in orig for s, _, h in copies if s != o]
names = sorted(orig)
neg += [dist(orig[a], orig[b]) for i, a in enumerate(names) for b in names[i + 1:]]
print(f"{len(orig)} originals, {len(copies)} copies: {len(pos)} positive pairs, {len(neg)} negative pairs\n")
print("| k | recall | precision | false positives | false-positive rate |")
print("| ---: | ---: | ---: | ---: | ---: |")
for k in range(0, 17):
    tp = sum(1 for _, d in pos if d <= k)
    fp = sum(1 for d in neg if d <= k)
    prec = tp / (tp + fp) if tp + fp else 1.0
    mark = " (default)" if k == 4 else ""
    print(f"| {k}{mark} | {tp / len(pos):.3f} | {prec:.3f} | {fp} | {fp / len(neg):.5f} |")
print(f"\nRecall per transform at k = {K} (median distance to the original):\n")
print("| transform | recall | median distance |")
print("| --- | ---: | ---: |")
for t in sorted({t for t, _ in pos}):
    ds = sorted(d for tt, d in pos if tt == t)
    r = sum(1 for d in ds if d <= K) / len(ds)
    print(f"| {t} | {r:.2f} | {ds[len(ds) // 2]} |")
ns = sorted(neg)
print(f"\nNegatives: smallest distance {ns[0]}, 1st percentile {ns[len(ns) // 100]}, median {ns[len(ns) // 2]}.")
PYEOF
