"""Writes a randomly initialised open_clip model as a user would import it,
and its embeddings of fixed inputs, for tests/cli_open_clip.rs.

  python open_clip_random_model.py MODEL_NAME OUT_DIR TEXT...

OUT_DIR/weights.safetensors: `model.state_dict()` (seeded);
OUT_DIR/config.json: open_clip's built-in `model_configs/MODEL_NAME.json`;
OUT_DIR/reference.safetensors: `pixels` (random, normalised), `tokens`
(`open_clip.tokenize` of the TEXTs), and the unit-norm `image` and `text`
embeddings open_clip computes from them.
"""

import os
import shutil
import sys

import open_clip
import torch
from safetensors.torch import save_file


def main():
    name, out, *texts = sys.argv[1:]
    torch.manual_seed(0)
    model = open_clip.create_model(name).eval()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(out, "weights.safetensors"))
    shutil.copy(os.path.join(os.path.dirname(open_clip.__file__), "model_configs", f"{name}.json"),
                os.path.join(out, "config.json"))
    size = model.visual.image_size[0]
    pixels = torch.randn(2, 3, size, size)
    tokens = open_clip.tokenize(texts)
    with torch.no_grad():
        image = model.encode_image(pixels, normalize=True)
        text = model.encode_text(tokens, normalize=True)
    save_file({"pixels": pixels, "tokens": tokens, "image": image.contiguous(),
               "text": text.contiguous()}, os.path.join(out, "reference.safetensors"))


if __name__ == "__main__":
    main()
