"""Builds the extract benchmarks' input from the real Common Crawl sample in
tests/data/commoncrawl: its records replicated with varied target URIs (so
every copy yields new pairs), gzip-compressed with one member per record, as
Common Crawl ships them.

    python3 scripts/bench_extract_data.py SRC_DIR OUT_DIR MB_PER_FILE FILES
"""
import gzip, os, re, sys
src, out, mb, files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out, exist_ok=True)
name = "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc"
def records(path):
    data = open(path, "rb").read()
    # Records end with a blank line pair; the split eats it, so put it back
    # (the last part keeps its own).
    parts = re.split(rb"\r\n\r\n(?=WARC/1\.0\r\n)", data)
    return [p + b"\r\n\r\n" for p in parts[:-1]] + [parts[-1]]
def vary(rec, i):
    # A different host per copy: relative image URLs resolve to new pairs.
    return re.sub(rb"(WARC-Target-URI: https?://)", rb"\g<1>c%d." % i, rec, count=1)
for kind, suffix in (("wat", ".warc.wat.gz"), ("warc", ".warc.gz")):
    recs = records(os.path.join(src, name + (".wat" if kind == "wat" else "")))
    for f in range(files):
        path = os.path.join(out, f"bench-{f:02d}{suffix}")
        if os.path.exists(path):
            continue
        written, i = 0, f * 10_000_000
        with open(path + ".tmp", "wb") as fh:
            while written < mb * 1_000_000:
                for r in recs:
                    v = vary(r, i)
                    fh.write(gzip.compress(v, compresslevel=6))
                    written += len(v)
                i += 1
        os.rename(path + ".tmp", path)
