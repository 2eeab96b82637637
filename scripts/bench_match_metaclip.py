#!/usr/bin/env python3
"""MetaCLIP's published matcher (the pyahocorasick variant of
`substr_matching`), run on the same vocabulary and pairs as witcurate.

Prints build time, texts/s and MB/s on one core, and the number of matched
texts and matches; writes per-entry counts (id<TAB>count) to --counts-out so
the benchmark can check that both implementations agree exactly.
"""
import argparse
import glob
import os
import resource
import time

import ahocorasick
import pyarrow.parquet as pq

# --- MetaCLIP's code (metaclip/substr_matching.py), pyahocorasick variant ---
spaced_metadata = None
automaton = None


def spacing(text):
    puncts_to_wrap = [",", ".", ";", ":", "?", "!", "`"]
    chars_to_space = ["\t", "\n", "\r"]
    spaced_text = f" {text} "
    for punct_to_wrap in puncts_to_wrap:
        spaced_text = spaced_text.replace(punct_to_wrap, f" {punct_to_wrap} ")
    for char_to_space in chars_to_space:
        spaced_text = spaced_text.replace(char_to_space, " ")
    return spaced_text


def initialize_automaton():
    a = ahocorasick.Automaton()
    for idx, key in enumerate(spaced_metadata):
        a.add_word(key, (idx, key))
    a.make_automaton()
    return a


def substr_matching(text, metadata):
    global spaced_metadata, automaton
    if spaced_metadata is None:
        spaced_metadata = [f" {entry} " for entry in metadata]
        automaton = initialize_automaton()
    text = spacing(text)
    matched_entry_ids = set()
    for end_index, (entry_id, original_value) in automaton.iter(text):
        matched_entry_ids.add(entry_id)
    return list(matched_entry_ids)
# --- end of MetaCLIP's code ---


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--pairs", required=True, help="directory of part-*.parquet")
    ap.add_argument("--counts-out", required=True)
    args = ap.parse_args()
    with open(args.vocab, encoding="utf-8") as f:
        metadata = f.read().split("\n")
    if metadata and metadata[-1] == "":
        metadata.pop()
    texts = []
    for path in sorted(glob.glob(os.path.join(args.pairs, "part-*.parquet"))):
        texts.extend(pq.read_table(path, columns=["text"]).column("text").to_pylist())
    t0 = time.perf_counter()
    substr_matching("", metadata)  # builds the automaton
    build = time.perf_counter() - t0
    counts = [0] * len(metadata)
    matched = matches = nbytes = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for text in texts:
        ids = substr_matching(text, metadata)
        nbytes += len(text.encode("utf-8"))
        if ids:
            matched += 1
            matches += len(ids)
            for i in ids:
                counts[i] += 1
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    with open(args.counts_out, "w") as f:
        for i, c in enumerate(counts):
            if c:
                f.write(f"{i}\t{c}\n")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"metaclip-python: build {build:.2f}s; {len(texts)} texts in {secs:.2f}s on 1 core = "
          f"{len(texts) / secs:,.0f} texts/s, {nbytes / secs / 1e6:.2f} MB/s; "
          f"{matched} matched, {matches} matches; peak RSS {rss:.0f} MiB")
    print(f"PY_TEXTS_PER_S={len(texts) / secs:.1f}")
    print(f"PY_CPU_TEXTS_PER_S={len(texts) / cpu:.1f}")


if __name__ == "__main__":
    main()
