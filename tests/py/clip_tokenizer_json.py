"""Writes CLIP's BPE tokenizer (the vocabulary open_clip bundles) in the
Hugging Face `tokenizer.json` format, as published with
openai/clip-vit-base-patch32, and what open_clip's own tokenizer makes of
some texts, for tests/cli_open_clip.rs.

  python clip_tokenizer_json.py OUT_TOKENIZER_JSON OUT_EXPECTED_JSON TEXT...

OUT_EXPECTED_JSON: {"ids": [[77 ids] per text]} from open_clip.tokenize.
"""

import json
import sys

import open_clip
from open_clip.tokenizer import SimpleTokenizer

SOT, EOT = "<|startoftext|>", "<|endoftext|>"


def main():
    out_tok, out_expected, *texts = sys.argv[1:]
    t = SimpleTokenizer()
    # open_clip names the special tokens <start_of_text> and <end_of_text>;
    # the published tokenizer.json calls them as CLIP's original code does.
    vocab = dict(t.encoder)
    vocab[SOT] = vocab.pop("<start_of_text>")
    vocab[EOT] = vocab.pop("<end_of_text>")
    merges = [list(pair) for pair, _ in sorted(t.bpe_ranks.items(), key=lambda kv: kv[1])]
    special = lambda content: {  # noqa: E731
        "id": vocab[content], "content": content, "single_word": False, "lstrip": False,
        "rstrip": False, "normalized": True, "special": True,
    }
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special(SOT), special(EOT)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
            {"type": "Lowercase"},
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"},
             "behavior": "Removed", "invert": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
        ]},
        "post_processor": {"type": "RobertaProcessing", "sep": [EOT, vocab[EOT]],
                           "cls": [SOT, vocab[SOT]], "trim_offsets": False, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": EOT, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": merges},
    }
    with open(out_tok, "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    ids = open_clip.tokenize(texts).tolist()
    with open(out_expected, "w", encoding="utf-8") as f:
        json.dump({"ids": ids, "sot": t.sot_token_id, "eot": t.eot_token_id}, f)


if __name__ == "__main__":
    main()
