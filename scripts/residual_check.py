"""PyTorch computes the same energies as debm from the residual (denoising) net's safetensors file.

Exports WEIGHTS (a denoising model) with `debm export --safetensors`, builds the small
nn.Module below from the file's metadata, loads its tensors with `load_state_dict(strict=True)`,
computes E(x, σ_min) for a split of a MedMNIST .npz (images / 127.5 - 1, NCHW), compares with
`debm score` of the same split (one energy per line, row order) and prints the largest absolute
and relative differences as JSON. Exits 1 when the relative one is above --tolerance. The
residual counterpart of scripts/safetensors_check.py (the CNN's). Needs torch, numpy and
safetensors.

    python scripts/residual_check.py [--weights weights/denoising.debm] [--debm PATH]
"""

import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open

from safetensors_check import arguments, both_ways  # the export, the scoring and the options, shared

SCORE_SIGMA = 0.002  # src/denoising.rs SCORE_SIGMA: the level `debm score` scores clean images at (the default walk's σ_min)


class Block(nn.Module):  # pre-activation: h = skip(h) + conv2(silu(conv1(silu(h)) + level(e)))
    def __init__(self, cin, cout, embedding, pool):
        super().__init__()
        self.pool = pool  # avg_pool2d(h, 2) first where a stage (but the first) starts
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.level = nn.Linear(embedding, cout)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else None  # only where the width changes

    def forward(self, h, e):
        h = F.avg_pool2d(h, 2) if self.pool else h
        t = self.conv2(F.silu(self.conv1(F.silu(h)) + self.level(e)[:, :, None, None]))
        return (h if self.skip is None else self.skip(h)) + t


class ResidualEnergy(nn.Module):  # E(x, σ) = |x-μ|²/(2(σ²+σ_d²)) + (σ_d/σ)·H(c_in·(x-μ), e(σ)), x: NCHW in [-1, 1]
    def __init__(self, meta):  # the file's metadata
        super().__init__()
        cfg = json.loads(meta["config"]); d = cfg["denoising"]; w, emb, k = cfg["width"], d["embedding"], cfg["classes"]
        self.stem = nn.Conv2d(cfg["channels"], w, 3, 1, 1)
        blocks, c = [], w
        for stage in range(d["stages"]):  # widths w, 2w, 2w, …; d["blocks"] blocks a stage, named blocks.0, blocks.1, …
            for b in range(d["blocks"]):
                out = w * min(stage + 1, 2)
                blocks.append(Block(c, out, emb, pool=stage > 0 and b == 0)); c = out
        self.blocks = nn.ModuleList(blocks)
        self.embed_in, self.embed_out = nn.Linear(emb // 2, emb), nn.Linear(emb, emb)
        self.class_table = nn.Parameter(torch.zeros(k + 1, emb)) if k > 0 else None  # row k: "any class"
        self.gate, self.readout = nn.Linear(emb, c), nn.Linear(c, 1)
        for name, n in (("data_mean", cfg["channels"]), ("data_std", 1), ("fourier_frequencies", emb // 4)):
            self.register_buffer(name, torch.zeros(n))  # fixed: μ, σ_d and the seeded Fourier frequencies

    def forward(self, x, sigma=SCORE_SIGMA, label=None):  # label None: any class (what debm score uses)
        s, sd = torch.full((x.shape[0],), sigma), self.data_std  # f32 like the Rust net's per-image σ
        angles = (s.log() / 4)[:, None] * self.fourier_frequencies  # c_noise = ln σ / 4
        e = self.embed_out(F.silu(self.embed_in(torch.cat([angles.sin(), angles.cos()], 1))))
        if self.class_table is not None:
            e = e + self.class_table[len(self.class_table) - 1 if label is None else label]
        centred, total = x - self.data_mean[:, None, None], s.square() + sd.square()
        h = self.stem(centred / total.sqrt()[:, None, None, None])  # u = c_in·(x-μ)
        for block in self.blocks:
            h = block(h, e)
        H = self.readout(F.silu(h).sum((2, 3)) * (1 + self.gate(e)))[:, 0]
        return centred.square().sum((1, 2, 3)) / (total * 2) + sd / s * H


def load(path):
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        if meta.get("recipe") != "denoising":  # the CNN's file names other tensors
            sys.exit(f"the weights hold a {meta.get('recipe')} net, not a residual one (scripts/safetensors_check.py reads it)")
        net = ResidualEnergy(meta)
        net.load_state_dict({k: f.get_tensor(k) for k in f.keys()}, strict=True)
    return net.eval(), meta


def main():
    start = time.monotonic()
    # Relative, not absolute: at σ_min the energy is σ_d/σ ≈ 150 times H plus a quadratic term, values in the thousands.
    args, root = arguments(__doc__, "denoising.debm", 1e-4, "largest relative difference accepted")
    ours, theirs, net, meta, size = both_ways(args, root, load)
    absolute = np.abs(ours - theirs)
    relative = absolute / np.maximum(np.abs(theirs), 1e-30)
    cfg = json.loads(meta["config"])
    report = {
        "check": "residual safetensors export: PyTorch energies vs debm score",
        "weights": os.path.relpath(args.weights, root),
        "split": args.split,
        "n": int(ours.shape[0]),
        "sigma": SCORE_SIGMA,
        "classes": int(meta["classes"]),
        "shape": {k: cfg["denoising"][k] for k in ("stages", "blocks", "embedding")} | {"width": cfg["width"]},
        "parameters": sum(p.numel() for p in net.parameters()),
        "file_bytes": size,
        "energy_range": [float(theirs.min()), float(theirs.max())],
        "max_abs_diff": float(absolute.max()),
        "max_rel_diff": float(relative.max()),
        "tolerance": args.tolerance,
        "seconds": round(time.monotonic() - start, 2),
        "torch": torch.__version__,
    }
    print(json.dumps(report))
    if not math.isfinite(report["max_rel_diff"]) or report["max_rel_diff"] > args.tolerance:
        sys.exit(1)


if __name__ == "__main__":
    main()
