#!/usr/bin/env python3
"""Real alt-texts and image captions from the bundled sample data, for
comparing the match rules: `<img alt>` of the Common Crawl WARC, `alt` of its
WAT, and the `alt=` texts and captions of `[[File:...]]` links in the
Wikipedia dump. Writes them as one pairs part (OUT/pairs/part-00000.parquet).

  bench_match_rules.py pairs OUT
  bench_match_rules.py compare VOCAB_TXT RUN_METACLIP RUN_WORD_BOUNDARY
"""
import bz2
import glob
import hashlib
import html
import json
import os
import re
import sys

import pyarrow as pa
import pyarrow.parquet as pq

DATA = os.path.join(os.path.dirname(__file__), "..", "tests", "data")


def warc_alts():
    out = []
    for path in glob.glob(os.path.join(DATA, "commoncrawl", "*.warc")):
        text = open(path, "rb").read().decode("utf-8", "replace")
        out += [html.unescape(a) for a in re.findall(r'<img[^>]*\balt\s*=\s*"([^"]*)"', text, re.I)]
    for path in glob.glob(os.path.join(DATA, "commoncrawl", "*.wat")):
        text = open(path, "rb").read().decode("utf-8", "replace")
        for m in re.finditer(r'"alt":"((?:[^"\\]|\\.)*)"', text):
            try:
                out.append(json.loads('"' + m.group(1) + '"'))
            except ValueError:
                pass
    return out


def wiki_captions():
    out = []
    for path in glob.glob(os.path.join(DATA, "wikipedia", "enwiki-*.bz2")):
        text = html.unescape(bz2.open(path).read().decode("utf-8", "replace"))
        for m in re.finditer(r"\[\[(?:File|Image):(?:[^\[\]]|\[\[[^\]]*\]\])*\]\]", text):
            for p in re.split(r"\|(?![^\[]*\]\])", m.group(0)[2:-2])[1:]:
                p = p.strip()
                if p.startswith("alt="):
                    p = p[4:]
                elif re.match(r"^(thumb|thumbnail|left|right|center|upright.*|\d+px|frame|"
                              r"frameless|border|none|link=.*|page=.*)$", p):
                    continue
                p = re.sub(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]", r"\1", p)
                p = re.sub(r"'{2,}", "", p)
                p = re.sub(r"<[^>]+>", "", p)
                p = re.sub(r"\{\{[^}]*\}\}", "", p)
                out.append(p)
    return out


def pairs(out):
    texts = [t.strip() for t in warc_alts() + wiki_captions()]
    texts = [t for t in texts if t]
    n = len(texts)
    urls = [f"http://sample.invalid/{i}.jpg" for i in range(n)]
    os.makedirs(os.path.join(out, "pairs"), exist_ok=True)
    pq.write_table(pa.table({
        "uid": [hashlib.md5(f"{u}\n{t}".encode()).hexdigest() for u, t in zip(urls, texts)],
        "url": urls, "text": texts, "page_url": pa.array([None] * n, type=pa.string()),
        "source": ["sample"] * n,
    }), os.path.join(out, "pairs", "part-00000.parquet"))
    # The part stands for a completed extract stage (see docs/formats.md).
    os.makedirs(os.path.join(out, "_stages", "extract"), exist_ok=True)
    with open(os.path.join(out, "_stages", "extract", "complete.json"), "w") as f:
        json.dump({"stage": "extract", "generation": "bench-real-texts", "tasks": 1}, f)
    print(f"{n} real alt-texts and captions")



def compare(vocab_txt, run_a, run_b):
    vocab = open(vocab_txt, encoding="utf-8").read().split("\n")

    def rows(run):
        out = {}
        for p in sorted(glob.glob(os.path.join(run, "matched", "part-*.parquet"))):
            t = pq.read_table(p, columns=["uid", "text", "query_ids"]).to_pydict()
            for u, x, ids in zip(t["uid"], t["text"], t["query_ids"]):
                if ids:  # matched/ holds every pair; these matched
                    out[u] = (x, set(ids))
        return out

    a, b = rows(run_a), rows(run_b)
    ma, mb = sum(len(v[1]) for v in a.values()), sum(len(v[1]) for v in b.values())
    only_b = {u: (b[u][0], b[u][1] - a.get(u, ("", set()))[1]) for u in b}
    only_a = {u: (a[u][0], a[u][1] - b.get(u, ("", set()))[1]) for u in a}
    gained = sum(len(v[1]) for v in only_b.values())
    lost = sum(len(v[1]) for v in only_a.values())
    print(f"metaclip: {len(a)} texts matched, {ma} matches; word-boundary: {len(b)} texts "
          f"matched, {mb} matches ({gained} only word-boundary, {lost} only metaclip)")
    classes, examples = {}, {}
    for text, ids in only_b.values():
        for i in ids:
            c = classify(text, vocab[i])
            classes[c] = classes.get(c, 0) + 1
            ex = examples.setdefault(c, [])
            if len(ex) < 3 and all(e[0] != vocab[i] for e in ex):
                ex.append((vocab[i], text))
    top = sorted(classes.items(), key=lambda kv: -kv[1])
    if len(top) > 8:
        rest = sum(n for _, n in top[8:])
        examples["other contexts"] = [e for c, _ in top[8:] for e in examples[c]][:3]
        top = top[:8] + [("other contexts", rest)]
    for c, n in top:
        shown = "; ".join(f"{e!r} in {t[:70]!r}" for e, t in examples[c])
        print(f"  {n:6d} word-boundary only, {c}: {shown}")
    for text, ids in list(only_a.values()):
        for i in ids:
            print(f"  metaclip only: {vocab[i]!r} in {text[:80]!r}")


def classify(text, entry):
    """Why the word-boundary rule matched `entry` where MetaCLIP's did not."""
    if any(p in entry for p in ",.;:?!`"):
        return "entry contains , . ; : ? ! or `"
    at = text.find(entry)
    while at >= 0:
        before = text[at - 1] if at > 0 else " "
        after = text[at + len(entry)] if at + len(entry) < len(text) else " "
        ctx = before + after
        word = lambda ch: ch.isalnum() or ch == "_"
        on_boundaries = (not word(entry[0]) or not word(before)) and (
            not word(entry[-1]) or not word(after))
        if on_boundaries and not (before.isspace() or before in ",.;:?!`") or not (after.isspace() or after in ",.;:?!`"):
            if after in "'\u2019":
                return "followed by an apostrophe ('s, n't)"
            if before in "'\u2019" and entry.isalpha():
                return "after an apostrophe (n't, 's split)"
            if any(ch in "()[]{}" for ch in ctx):
                return "in brackets"
            if any(ch in '"\u201c\u201d\u2018\u00ab\u00bb' for ch in ctx):
                return "in quotes"
            if any(ch in "-\u2013\u2014" for ch in ctx):
                return "next to a hyphen or dash"
            if "/" in ctx:
                return "next to a slash"
            return f"next to {ctx.strip()!r}"
        at = text.find(entry, at + 1)
    return "other"


if __name__ == "__main__":
    if sys.argv[1] == "pairs":
        pairs(sys.argv[2])
    else:
        compare(*sys.argv[2:5])
