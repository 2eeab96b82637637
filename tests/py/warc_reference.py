"""An independent reading of WARC files: warcio for the records and HTTP
(chunking, content encoding), lxml's HTML parser for the pages, Python's
urljoin for URLs. Prints the unique (image URL, alt-text) pairs, one
`url<TAB>text` per line, sorted, under the rules of docs/extract.md: every
<img> with a non-empty alt (whitespace runs collapsed, trimmed), its src
resolved against the first <base href> (else the page URL), http(s) only, no
`data:`, text and URL at most 4096 long.

    python warc_reference.py FILE.warc [...]
"""
import re
import sys
from urllib.parse import quote, urljoin, urlsplit

import lxml.html
from warcio.archiveiterator import ArchiveIterator


def collapse(text):
    return re.sub(r"[\t\n\f\r ]+", " ", text).strip(" ")


def pairs(path):
    out = set()
    with open(path, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type != "response" or rec.http_headers is None:
                continue
            ctype = rec.http_headers.get_header("Content-Type") or ""
            if "html" not in ctype.lower():
                continue
            page = rec.rec_headers.get_header("WARC-Target-URI")
            body = rec.content_stream().read()
            if not body.strip():
                continue
            charset = re.search(r"charset=([\w-]+)", ctype, re.I)
            parser = lxml.html.HTMLParser(encoding=charset.group(1) if charset else None)
            doc = lxml.html.document_fromstring(body, parser=parser)
            base = page
            bases = doc.xpath("//base[@href]")
            if bases:
                base = urljoin(page, bases[0].get("href").strip())
            for img in doc.iter("img"):
                src = (img.get("src") or "").strip()
                alt = collapse(img.get("alt") or "")
                if not src or not alt or src.lower().startswith("data:"):
                    continue
                # WHATWG URL serialisation percent-encodes spaces, controls
                # and non-ASCII; urljoin keeps them as written.
                url = quote(urljoin(base, src), safe="%/:=&?~#+!$,;'@()*[]|^{}`<>\"")
                if urlsplit(url).scheme not in ("http", "https"):
                    continue
                if len(alt) > 4096 or len(url) > 4096:
                    continue
                out.add((url, alt))
    return out


if __name__ == "__main__":
    found = set()
    for p in sys.argv[1:]:
        found |= pairs(p)
    for url, text in sorted(found):
        print(f"{url}\t{text}")
