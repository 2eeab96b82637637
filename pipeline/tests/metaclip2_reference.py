#!/usr/bin/env python3
"""MetaCLIP 2's multilingual matching (metaclip/curation/substr_matching.py),
transcribed: the text gets MetaCLIP's spacing; an entry gets a padding space
on a side whose boundary character is not "CJK or similar" (CJK ideograph
blocks, Thai, Lao, Burmese, Khmer, Tibetan) or punctuation (Python's
string.punctuation plus a list of CJK marks); an entry matches when its padded
form occurs in the spaced text.

Reads {"entries": [...], "texts": [...]} as JSON on stdin and writes, as JSON,
the ascending ids of the matching entries of each text.
"""
import json
import string
import sys

EXTRA_PUNCTUATION = set("，。、；：？！“”‘’（）【】《》〈〉「」『』～—")

CJK_OR_SIMILAR = [
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF),
    (0x2E80, 0x2EFF), (0x2F00, 0x2FDF), (0x2FF0, 0x2FFF),
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x1000, 0x109F),  # Burmese
    (0x1780, 0x17FF),  # Khmer
    (0x0F00, 0x0FFF),  # Tibetan
]


def is_punctuation(c):
    return c in string.punctuation or c in EXTRA_PUNCTUATION


def is_cjk_or_similar(c):
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in CJK_OR_SIMILAR) or is_punctuation(c)


def spacing(text):
    out = f" {text} "
    for p in [",", ".", ";", ":", "?", "!", "`"]:
        out = out.replace(p, f" {p} ")
    for c in ["\t", "\n", "\r"]:
        out = out.replace(c, " ")
    return out


def padded(entry):
    if not is_cjk_or_similar(entry[0]):
        entry = " " + entry
    if not is_cjk_or_similar(entry[-1]):
        entry = entry + " "
    return entry


def main():
    data = json.load(sys.stdin)
    patterns = [padded(e) for e in data["entries"]]
    result = []
    for text in data["texts"]:
        s = spacing(text)
        result.append([i for i, p in enumerate(patterns) if p in s])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
