"""Compares witcurate's download shards with img2dataset's own resizer.

Usage: python img2dataset_compare.py MANIFEST.json

The manifest lists runs: {"shard": path of a witcurate shard parquet,
"photos": [path, ...] in key order, and the resizer options "resize_mode",
"image_size", "resize_only_if_bigger" and optional "downscale_interpolation"
/ "upscale_interpolation" and "bboxes" (per photo, a list of normalised
boxes to blur with img2dataset's `BoundingBoxBlurrer`)}. Each photo is resized by img2dataset's `Resizer`
(its `resizer.py`, loaded from the installed img2dataset package without the
rest of the package) encoding PNG, and compared with witcurate's image
(also PNG): the sizes must be equal, and the PSNR is printed, one line per
image: `run photo width height psnr`.
"""

import importlib.util
import io
import json
import math
import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402


def load_module(name):
    spec = importlib.util.find_spec("img2dataset")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("img2dataset is not installed (run scripts/setup.sh)")
    path = os.path.join(list(spec.submodule_search_locations)[0], f"{name}.py")
    mod_spec = importlib.util.spec_from_file_location(f"img2dataset_{name}", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


def as_bgr(img):
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def main():
    Resizer = load_module("resizer").Resizer
    Blurrer = load_module("blurrer").BoundingBoxBlurrer
    runs = json.load(open(sys.argv[1]))
    for i, run in enumerate(runs):
        table = pq.read_table(run["shard"]).to_pydict()
        order = sorted(range(len(table["key"])), key=lambda j: table["key"][j])
        resizer = Resizer(
            image_size=run["image_size"],
            resize_mode=run["resize_mode"],
            resize_only_if_bigger=run["resize_only_if_bigger"],
            downscale_interpolation=run.get("downscale_interpolation", "area"),
            upscale_interpolation=run.get("upscale_interpolation", "lanczos"),
            encode_format="png",
            encode_quality=1,
            blurrer=Blurrer() if "bboxes" in run else None,
        )
        for n, (photo, j) in enumerate(zip(run["photos"], order)):
            if table["status"][j] != "success":
                sys.exit(f"run {i} {photo}: witcurate failed: {table['error_message'][j]}")
            with open(photo, "rb") as f:
                bboxes = run["bboxes"][n] if "bboxes" in run else None
                ref_bytes, w, h, _, _, err = resizer(io.BytesIO(f.read()), bboxes)
            if err:
                sys.exit(f"run {i} {photo}: img2dataset failed: {err}")
            ref = as_bgr(cv2.imdecode(np.frombuffer(ref_bytes, np.uint8), cv2.IMREAD_UNCHANGED))
            ours = as_bgr(cv2.imdecode(np.frombuffer(table["jpg"][j], np.uint8), cv2.IMREAD_UNCHANGED))
            if ref.shape != ours.shape or (table["width"][j], table["height"][j]) != (w, h):
                print(f"{i} {os.path.basename(photo)} size witcurate {ours.shape} "
                      f"({table['width'][j]}x{table['height'][j]}) img2dataset {ref.shape} ({w}x{h})")
                continue
            print(f"{i} {os.path.basename(photo)} {w} {h} {psnr(ref, ours):.2f}")


if __name__ == "__main__":
    main()
