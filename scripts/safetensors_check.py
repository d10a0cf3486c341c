"""PyTorch computes the same energies as debm from a `debm export --safetensors` file.

Exports WEIGHTS with `debm export --safetensors`, loads the file into the small nn.Module below
(the one README "Weights for PyTorch" shows) with `load_state_dict`, computes E(x) for a split
of a MedMNIST .npz (images / 127.5 - 1, NCHW), compares with `debm score` of the same split (one
energy per line, row order) and prints the largest absolute difference as JSON. Exits 1 when it
is above --tolerance. Needs torch, numpy and safetensors.

    python scripts/safetensors_check.py [--weights weights/dermamnist.debm] [--debm PATH]
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open


class EnergyNet(nn.Module):  # E(x, t) = -(logsumexp(fc2(h)) + h @ level_head[t]), x: NCHW in [-1, 1]
    def __init__(self, meta):  # the file's metadata
        super().__init__()
        cfg, levels = json.loads(meta["config"]), max(int(meta["levels"]), 1)
        w = cfg["width"]; c = [w // 2, w, 2 * w, 2 * w, 2 * w]; side = ((cfg["image_size"] + 5) // 2 + 7) // 8
        self.conv1 = nn.Conv2d(cfg["channels"], c[0], 5, 2, 4)
        self.conv2, self.conv3, self.conv4 = (nn.Conv2d(a, b, 3, 2, 1) for a, b in zip(c, c[1:4]))
        self.fc1, self.fc2 = nn.Linear(c[3] * side * side, c[4]), nn.Linear(c[4], max(cfg["classes"], 1))
        self.level_shift = nn.ParameterList(torch.zeros(levels, n) for n in c)
        self.level_head = nn.Parameter(torch.zeros(levels, c[4]))

    def forward(self, x, t=0):
        for conv, s in zip((self.conv1, self.conv2, self.conv3, self.conv4), self.level_shift):
            x = F.silu(conv(x) + s[t, :, None, None])
        h = F.silu(self.fc1(x.flatten(1)) + self.level_shift[4][t])
        return -(self.fc2(h).logsumexp(1) + h @ self.level_head[t])


def load(path):
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        net = EnergyNet(meta)
        net.load_state_dict({k: f.get_tensor(k) for k in f.keys()})
    return net.eval(), meta


def arguments(doc, weights, tolerance, tolerance_help):
    """The options both checks take (this one and scripts/residual_check.py), parsed."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/dermaebm/target"))
    native = os.path.join(target, "native", "debm")
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--weights", default=os.path.join(root, "weights", weights))
    parser.add_argument("--data", default=os.path.join(root, "..", "shared", "data", "dermamnist-ham10000-28.npz"))
    parser.add_argument("--split", default="val")
    parser.add_argument(
        "--debm",
        default=native if os.access(native, os.X_OK) else "cargo run --release --quiet --bin debm --",
        help="the debm command (default: the native profile's binary if built, else cargo run --release)",
    )
    parser.add_argument("--tolerance", type=float, default=tolerance, help=tolerance_help)
    return parser.parse_args(), root


def both_ways(args, root, load):
    """The split's energies from `debm score` and from the module `load` builds out of the
    `debm export` file: (ours, theirs, the module, its metadata, file bytes)."""
    debm = shlex.split(args.debm)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "net.safetensors")
        subprocess.run(debm + ["export", "--safetensors", path, "--weights", args.weights], check=True, cwd=root, stdout=subprocess.DEVNULL)
        net, meta = load(path)
        size = os.path.getsize(path)
    scored = subprocess.run(
        debm + ["score", args.data, "--split", args.split, "--weights", args.weights, "--backend", "cpu"],
        check=True, cwd=root, stdout=subprocess.PIPE, text=True,
    ).stdout
    theirs = np.array([float(line) for line in scored.split()], dtype=np.float64)

    images = np.load(args.data)[f"{args.split}_images"]
    if images.ndim == 3:  # grayscale: [N, H, W]
        images = images[..., None]
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        ours = torch.cat([net(chunk) for chunk in x.split(512)]).double().numpy()
    if ours.shape != theirs.shape:
        sys.exit(f"debm scored {theirs.shape[0]} images, the split has {ours.shape[0]}")
    return ours, theirs, net, meta, size


def main():
    args, root = arguments(__doc__, "dermamnist.debm", 1e-3, "largest absolute difference accepted")
    ours, theirs, _, meta, size = both_ways(args, root, load)
    difference = float(np.abs(ours - theirs).max())
    report = {
        "check": "safetensors export: PyTorch energies vs debm score",
        "weights": os.path.relpath(args.weights, root),
        "split": args.split,
        "images": int(ours.shape[0]),
        "recipe": meta["recipe"],
        "classes": int(meta["classes"]),
        "levels": int(meta["levels"]),
        "spectral_norm": meta["spectral_norm"].split(":")[0],
        "file_bytes": size,
        "energy_range": [float(theirs.min()), float(theirs.max())],
        "max_abs_difference": difference,
        "tolerance": args.tolerance,
        "torch": torch.__version__,
    }
    print(json.dumps(report))
    if not difference <= args.tolerance:
        sys.exit(1)


if __name__ == "__main__":
    main()
