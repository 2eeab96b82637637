#!/usr/bin/env python3
"""Serves a stand-in image for every selected pair of a run, so the demo can
run the download stage without reaching the internet.

usage: demo_image_server.py RUN PORT_FILE

Reads RUN/selected/part-*.parquet, writes RUN/local_urls.parquet (url pointing
at this server, caption = the pair's text, the pair's uid and query_ids kept),
writes the port to PORT_FILE and serves until killed. Each image is a small
PNG whose colours derive from the pair's uid (made with the standard library
only). Needs pyarrow.
"""
import glob
import hashlib
import os
import struct
import sys
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq


def png(seed: bytes, w: int = 320, h: int = 240) -> bytes:
    r, g, b = seed[0], seed[1], seed[2]
    rows = bytearray()
    for y in range(h):
        rows.append(0)
        for x in range(w):
            rows += bytes(((r + x) % 256, (g + y) % 256, (b + x + y) % 256))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b"")


def main():
    run, port_file = sys.argv[1], sys.argv[2]
    parts = sorted(glob.glob(os.path.join(run, "selected", "part-*.parquet")))
    if not parts:
        sys.exit(f"no selected parts in {run}/selected")
    table = pa.concat_tables([pq.read_table(p, columns=["uid", "url", "text", "query_ids"]) for p in parts])
    uids = table.column("uid").to_pylist()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            uid = self.path.strip("/").removesuffix(".png")
            body = png(hashlib.sha256(uid.encode()).digest())
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    local = pa.table(
        {
            "url": [f"http://127.0.0.1:{port}/{u}.png" for u in uids],
            "caption": table.column("text"),
            "uid": table.column("uid"),
            "query_ids": table.column("query_ids"),
        }
    )
    pq.write_table(local, os.path.join(run, "local_urls.parquet"))
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
