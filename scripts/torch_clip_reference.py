#!/usr/bin/env python3
"""The same CLIP model, loss and optimizer as witcurate's trainer, in PyTorch,
timed per step on random batches of the same shape. Used by
`scripts/bench_train.sh --with-torch` (CPU) and `scripts/gpu_check.sh`
(CUDA, f32 or bf16 autocast); prints the mean step time in ms, and with
--json a JSON line with the step time and the peak GPU memory."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "tiny": dict(image=32, patch=8, vw=64, vl=2, vh=2, tw=64, tl=2, th=2, embed=64),
    "small": dict(image=64, patch=8, vw=256, vl=6, vh=4, tw=256, tl=6, th=4, embed=256),
    "vit-b-32": dict(image=224, patch=32, vw=768, vl=12, vh=12, tw=512, tl=12, th=8, embed=512),
}


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, w, h):
        super().__init__()
        self.ln_1 = nn.LayerNorm(w)
        self.attn = nn.MultiheadAttention(w, h, batch_first=True)
        self.ln_2 = nn.LayerNorm(w)
        self.mlp = nn.Sequential(nn.Linear(w, 4 * w), QuickGELU(), nn.Linear(4 * w, w))

    def forward(self, x, mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Clip(nn.Module):
    def __init__(self, p, vocab, ctx):
        super().__init__()
        g = p["image"] // p["patch"]
        self.p = p
        self.conv1 = nn.Conv2d(3, p["vw"], p["patch"], p["patch"], bias=False)
        self.cls = nn.Parameter(torch.randn(p["vw"]) * p["vw"] ** -0.5)
        self.vpos = nn.Parameter(torch.randn(g * g + 1, p["vw"]) * p["vw"] ** -0.5)
        self.ln_pre = nn.LayerNorm(p["vw"])
        self.vblocks = nn.ModuleList([Block(p["vw"], p["vh"]) for _ in range(p["vl"])])
        self.ln_post = nn.LayerNorm(p["vw"])
        self.vproj = nn.Parameter(torch.randn(p["vw"], p["embed"]) * p["vw"] ** -0.5)
        self.tok = nn.Embedding(vocab, p["tw"])
        self.tpos = nn.Parameter(torch.randn(ctx, p["tw"]) * 0.01)
        self.tblocks = nn.ModuleList([Block(p["tw"], p["th"]) for _ in range(p["tl"])])
        self.ln_final = nn.LayerNorm(p["tw"])
        self.tproj = nn.Parameter(torch.randn(p["tw"], p["embed"]) * p["tw"] ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("mask", torch.full((ctx, ctx), float("-inf")).triu(1))

    def forward(self, img, tok, eot):
        x = self.conv1(img).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1), x], 1) + self.vpos
        x = self.ln_pre(x)
        for b in self.vblocks:
            x = b(x)
        i = F.normalize(self.ln_post(x[:, 0]) @ self.vproj, dim=-1)
        t = self.tok(tok) + self.tpos
        for b in self.tblocks:
            t = b(t, self.mask)
        t = self.ln_final(t)[torch.arange(t.shape[0]), eot]
        t = F.normalize(t @ self.tproj, dim=-1)
        logits = self.logit_scale.exp() * i @ t.T
        labels = torch.arange(len(logits), device=logits.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--preset", default="tiny")
    a.add_argument("--batch-size", type=int, default=64)
    a.add_argument("--context-length", type=int, default=77)
    a.add_argument("--vocab-size", type=int, default=1024)
    a.add_argument("--steps", type=int, default=30)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--device", default="cpu")
    a.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    a.add_argument("--json", action="store_true")
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        # f32 means f32, as in witcurate (no TF32 matrix products).
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    p = PRESETS[args.preset]
    m = Clip(p, args.vocab_size, args.context_length).to(dev)
    decay = [q for n, q in m.named_parameters() if q.ndim >= 2 and "tok" not in n and "pos" not in n]
    rest = [q for n, q in m.named_parameters() if not (q.ndim >= 2 and "tok" not in n and "pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.2}, {"params": rest, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.98), eps=1e-6)
    b, s, ctx = args.batch_size, p["image"], args.context_length
    img = torch.randn(b, 3, s, s, device=dev)
    tok = torch.randint(3, args.vocab_size, (b, ctx), device=dev)
    eot = torch.randint(3, ctx, (b,), device=dev)
    times = []
    for step in range(args.steps):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = m(img, tok, eot)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            m.logit_scale.clamp_(0, math.log(100))
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    warm = times[5:] if len(times) > 10 else times
    ms = 1000 * sum(warm) / len(warm)
    if args.json:
        import json
        peak = torch.cuda.max_memory_reserved(dev) if cuda else 0
        print(json.dumps({"step_ms": ms, "samples_per_s": 1000 * b / ms, "peak_reserved_bytes": peak,
                          "loss": loss.item()}))
    else:
        print(f"{ms:.3f}")


if __name__ == "__main__":
    main()
