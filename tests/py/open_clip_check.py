"""Loads a `witcurate export --format open_clip` directory with open_clip
itself and writes what open_clip computes, for tests/cli_open_clip.rs.

  python open_clip_check.py EXPORT_DIR INPUTS IMAGE OUTPUTS STATE_DICT TEXTS

INPUTS (safetensors): `pixels` [B, 3, S, S], normalised, and `tokens` [B, T]
(ids of the exported tokenizer, as witcurate encodes TEXTS, a JSON list of
strings: open_clip's `get_tokenizer` of the export must give the same). Writes OUTPUTS (safetensors): the unit-norm
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
    export, inputs, image, outputs, state_dict, texts = sys.argv[1:7]
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
    # open_clip's tokenizer of the export (Hugging Face's, from the
    # directory) frames and pads captions as witcurate does.
    tokenizer = open_clip.get_tokenizer(f"local-dir:{export}")
    assert type(tokenizer).__name__ == "HFTokenizer", type(tokenizer)
    with open(texts, encoding="utf-8") as f:
        ids = tokenizer(json.load(f))
    assert torch.equal(ids, x["tokens"].long()), (ids, x["tokens"])
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
