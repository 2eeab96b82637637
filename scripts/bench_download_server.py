#!/usr/bin/env python3
"""Generates N benchmark images (mixed JPEG/PNG, varied sizes) once, writes the
URL list as a parquet table (url, caption), and serves the images from memory
on 127.0.0.1 until killed.

usage: bench_download_server.py DATA_DIR N PORT_FILE [heavy|web]
Prints nothing; writes the chosen port to PORT_FILE once it is serving.
Needs Pillow and pyarrow (the benchmark's venv has both).
"""
import io
import math
import os
import random
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def generate(data_dir, n, profile):
    """Writes the images once; `profile` picks their mix:

    heavy: 3 in 4 JPEG (quality 88), 1 in 4 PNG, 200-1200 px wide, aspect
           0.5-1.6, photo-like noise everywhere (the PNGs barely compress):
           about 250 KB per image, decoding-bound.
    web:   9 in 10 JPEG (quality 85) with light noise, 1 in 10 flat PNG
           graphics, widths log-normal around 500 px (150-1600): closer to the
           alt-text images of a web crawl, about 30 KB per image.
    """
    from PIL import Image, ImageDraw

    img_dir = os.path.join(data_dir, "images")
    os.makedirs(img_dir, exist_ok=True)
    rng = random.Random(1234)
    names = []
    for i in range(n):
        if profile == "heavy":
            ext = "png" if i % 4 == 3 else "jpg"
            w = rng.randint(200, 1200)
            noise_weight, quality = 0.15, 88
        else:
            ext = "png" if i % 10 == 9 else "jpg"
            w = int(min(1600, max(150, rng.lognormvariate(math.log(500), 0.5))))
            noise_weight, quality = (0.05 if ext == "jpg" else 0.0), 85
        h = max(64, int(w * rng.uniform(0.5, 1.6)))
        name = f"{i:06d}.{ext}"
        names.append(name)
        path = os.path.join(img_dir, name)
        if os.path.exists(path):
            continue
        # A gradient with shapes and some noise: compresses like a photo-ish image.
        base = Image.linear_gradient("L").resize((w, h))
        img = Image.merge("RGB", (base, base.rotate(90).resize((w, h)), base.transpose(Image.FLIP_LEFT_RIGHT)))
        draw = ImageDraw.Draw(img)
        for _ in range(12):
            x0, y0 = rng.randint(0, w), rng.randint(0, h)
            draw.ellipse(
                [x0, y0, x0 + rng.randint(10, w // 2), y0 + rng.randint(10, h // 2)],
                fill=(rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)),
            )
        if noise_weight > 0:
            noise = Image.effect_noise((w, h), 24).convert("RGB")
            img = Image.blend(img, noise, noise_weight)
        tmp = path + ".tmp"
        if ext == "jpg":
            img.save(tmp, "JPEG", quality=quality)
        else:
            img.save(tmp, "PNG")
        os.replace(tmp, path)
    return names


def write_urls(data_dir, names, port):
    import pyarrow as pa
    import pyarrow.parquet as pq

    urls = [f"http://127.0.0.1:{port}/{n}" for n in names]
    captions = [f"benchmark image {i}" for i in range(len(names))]
    pq.write_table(pa.table({"url": urls, "caption": captions}), os.path.join(data_dir, "urls.parquet"))


def main():
    data_dir, n, port_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    profile = sys.argv[4] if len(sys.argv) > 4 else "heavy"
    if profile not in ("heavy", "web"):
        sys.exit(f"unknown image profile {profile!r} (expected heavy or web)")
    names = generate(data_dir, n, profile)
    blobs = {"/" + name: open(os.path.join(data_dir, "images", name), "rb").read() for name in names}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = blobs.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            ctype = "image/png" if self.path.endswith(".png") else "image/jpeg"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 1024
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    write_urls(data_dir, names, port)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
