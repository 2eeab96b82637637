#!/usr/bin/env python3
"""Synthesises benchmark data for `witcurate crawl match`.

Writes OUT/vocab/queries.txt (a realistic 500k-entry vocabulary: the numbers
0..99, every WordNet lemma, capitalised forms, adjective/noun bigrams and
title-like phrases, de-duplicated, case preserved) and OUT/run/pairs/part-*.parquet
(alt-texts built from WordNet words weighted by their tagged-sense counts,
function words, punctuation, numbers and product/photo templates).

Needs pyarrow (the benchmark script installs it into its venv).
"""
import argparse
import hashlib
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq

FUNCTION_WORDS = (
    "a the of in on with and for at by to from near under over a an this my our "
    "your new old best top free big small"
).split()
TEMPLATES = [
    "{A} {n} {p} {d} {n2}",
    "Photo of {d} {a} {n} {p} {d} {n2}.",
    "{A} {n}, {a} {n2} and {n3}",
    "{N} {N2} {num} - {A} {n} for {n2}",
    "{n} {n2}",
    "{N} | {N2} {N3}",
    "IMG_{num4}.jpg",
    "{A} {n} {p} {d} {n2}: {a} {n3} {p} {n4}!",
    "{N} {n} ({num})",
    "Buy {a} {n} {n2} online - {N3} {N4}",
    "{d} {n} {v} {d} {n2} {p} {d} {n3}",
    "{N}'s {n} {p} {N2}",
    "{num} {a} {n} ideas",
    "Close-up of {d} {n}; {n2} in the background",
]


def read_index(path):
    """Lemmas of a WordNet index file with weights (tagged sense count + 1)."""
    out = []
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith(" "):
                continue
            fields = line.split()
            lemma = fields[0].replace("_", " ")
            n_ptr = int(fields[3])
            tagsense = int(fields[5 + n_ptr])
            out.append((lemma, tagsense + 1))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--vocab-size", type=int, default=500_000)
    ap.add_argument("--texts", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    pos = {p: read_index(os.path.join(args.wordnet, f"index.{p}")) for p in ("noun", "verb", "adj", "adv")}
    single = {p: [(w, c) for w, c in v if " " not in w and "-" not in w] for p, v in pos.items()}

    vocab, seen = [], set()

    def add(e):
        if e and e not in seen and "\n" not in e:
            seen.add(e)
            vocab.append(e)

    for i in range(100):
        add(str(i))
    for p in ("noun", "verb", "adj", "adv"):
        for w, _ in pos[p]:
            add(w)
    for w, _ in single["noun"]:
        add(w.capitalize())
    nouns = [w for w, _ in single["noun"]]
    adjs = [w for w, _ in single["adj"]]
    common_n = [w for w, c in single["noun"] if c > 1]
    common_a = [w for w, c in single["adj"] if c > 1]
    while len(vocab) < args.vocab_size * 0.8:
        r = rng.random()
        if r < 0.5:
            add(f"{rng.choice(common_a)} {rng.choice(nouns)}")
        else:
            add(f"{rng.choice(common_n)} {rng.choice(nouns)}")
    while len(vocab) < args.vocab_size:
        r = rng.random()
        a, b = rng.choice(nouns).capitalize(), rng.choice(nouns).capitalize()
        if r < 0.4:
            add(f"{a} {b}")
        elif r < 0.7:
            add(f"The {a} {b}")
        else:
            add(f"{a} of {b}")
    os.makedirs(os.path.join(args.out, "vocab"), exist_ok=True)
    with open(os.path.join(args.out, "vocab", "queries.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab[: args.vocab_size]) + "\n")

    def sampler(items):
        words = [w for w, _ in items]
        weights = [c for _, c in items]
        return lambda k: rng.choices(words, weights=weights, k=k)

    noun_s, adj_s, verb_s = sampler(single["noun"]), sampler(single["adj"]), sampler(single["verb"])
    pool_n, pool_a, pool_v = noun_s(200_000), adj_s(100_000), verb_s(50_000)
    preps = ["in", "on", "with", "at", "by", "near", "under", "over", "from"]
    dets = ["a", "the", "an", "this", "my", "our", "two", "three"]

    def text():
        t = rng.choice(TEMPLATES)
        n = lambda: rng.choice(pool_n)
        return t.format(
            A=rng.choice(pool_a).capitalize(), a=rng.choice(pool_a), n=n(), n2=n(), n3=n(), n4=n(),
            N=n().capitalize(), N2=n().capitalize(), N3=n().capitalize(), N4=n().capitalize(),
            p=rng.choice(preps), d=rng.choice(dets), v=rng.choice(pool_v) + "s",
            num=rng.randint(0, 2024), num4=rng.randint(1000, 9999),
        )

    pairs_dir = os.path.join(args.out, "run", "pairs")
    os.makedirs(pairs_dir, exist_ok=True)
    per_part = (args.texts + args.parts - 1) // args.parts
    schema = pa.schema([
        pa.field("uid", pa.string(), False), pa.field("url", pa.string(), False),
        pa.field("text", pa.string(), False), pa.field("page_url", pa.string(), True),
        pa.field("source", pa.string(), False),
    ])
    done = 0
    for part in range(args.parts):
        n = min(per_part, args.texts - done)
        texts = [text() for _ in range(n)]
        urls = [f"https://img{rng.randint(0, 999)}.example.com/{done + i}.jpg" for i in range(n)]
        uids = [hashlib.md5(f"{u}\n{t}".encode()).hexdigest() for u, t in zip(urls, texts)]
        table = pa.table({
            "uid": uids, "url": urls, "text": texts,
            "page_url": [None] * n, "source": ["bench"] * n,
        }, schema=schema)
        pq.write_table(table, os.path.join(pairs_dir, f"part-{part:05d}.parquet"), compression="zstd")
        done += n
    # The synthetic pairs stand for a completed extract stage (the record the
    # stage runner writes last; see docs/formats.md), so that match reads them.
    stage_dir = os.path.join(args.out, "run", "_stages", "extract")
    os.makedirs(stage_dir, exist_ok=True)
    with open(os.path.join(stage_dir, "complete.json"), "w") as f:
        json.dump({"stage": "extract", "generation": f"synthetic-{args.parts}-{done}",
                   "tasks": args.parts}, f)
    print(f"vocab: {min(len(vocab), args.vocab_size)} entries; texts: {done} in {args.parts} parts")


if __name__ == "__main__":
    main()
