"""Loads a `witcurate export --format open_clip` directory with open_clip
itself and writes what open_clip computes, for tests/cli_open_clip.rs.

  python open_clip_check.py EXPORT_DIR INPUTS IMAGE OUTPUTS STATE_DICT

INPUTS (safetensors): `pixels` [B, 3, S, S], normalised, and `tokens` [B, T]
(ids of the exported tokenizer). Writes OUTPUTS (safetensors): the unit-norm
`image` and `text` embeddings of those inputs, and `pixels`: open_clip's own
preprocessing of IMAGE. Writes STATE_DICT: the model's state dict as open_clip
holds it (`model.state_dict()`), for the import back.
"""

import json
import sys

import open_clip
import torch
from PIL import Image
from safetensors.torch import load_file, save_file


def main():
    export, inputs, image, outputs, state_dict = sys.argv[1:6]
    torch.manual_seed(0)
    # Loads open_clip_config.json and open_clip_model.safetensors with
    # strict key matching: a missing or extra tensor fails here.
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{export}")
    model.eval()
    # The architecture is witcurate's.
    with open(f"{export}/open_clip_config.json", encoding="utf-8") as f:
        quick_gelu = json.load(f)["model_cfg"]["quick_gelu"]
    assert model.visual.conv1.bias is None
    for tower in (model.visual.transformer, model.transformer):
        act = type(tower.resblocks[0].mlp.gelu).__name__
        assert act == ("QuickGELU" if quick_gelu else "GELU"), act
    assert model.text_pool_type == "argmax"
    x = load_file(inputs)
    with torch.no_grad():
        img = model.encode_image(x["pixels"], normalize=True)
        txt = model.encode_text(x["tokens"].long(), normalize=True)
        pix = preprocess(Image.open(image).convert("RGB")).unsqueeze(0)
    save_file({"image": img.contiguous(), "text": txt.contiguous(), "pixels": pix.contiguous()}, outputs)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, state_dict)
    print(f"open_clip {open_clip.__version__}: {len(model.state_dict())} tensors, "
          f"image {tuple(img.shape)}, text {tuple(txt.shape)}")


if __name__ == "__main__":
    main()
