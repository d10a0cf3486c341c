"""An independent judge of class-conditional samples: a small CNN trained on the train split's
real images only (never on samples, never on the model's weights), then asked which class each
sample looks like. Reports the judge's own recall on real val images per class (what "judged
as that class" can reach) and, for each sample file drawn under a class, the share judged as
that class (weights/README.md, the per-class tables).

    ~/fidvenv/bin/python scripts/judge.py --data ../shared/data/dermamnist-ham10000-28.npz \
        --samples 4=mel.npz 2=bkl.npz any=any.npz      # CLASS=FILE (npz key `images`)

The judge is trained once (seed 0, 12 epochs, ~2 min on two threads) and cached beside the
data's hash in ~/.cache/dermaebm-judge/; prints one JSON object.
"""

import argparse
import hashlib
import json
import os

import numpy as np
import torch
from torch import nn

CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]


def net():
    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, len(CLASSES)))


def tensor(images):
    x = torch.from_numpy(np.asarray(images)).float() / 127.5 - 1.0
    return x.permute(0, 3, 1, 2).contiguous() if x.shape[-1] == 3 else x


def predict(model, images):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(tensor(images[i : i + 256])).argmax(1) for i in range(0, len(images), 256)]).numpy()


def train(data, epochs=12):
    torch.manual_seed(0)
    x, y = tensor(data["train_images"]), torch.from_numpy(data["train_labels"].ravel().astype(np.int64))
    model = net()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * ((len(x) + 127) // 128))
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(128):
            xb = x[idx]
            # The samples' symmetries: flips and quarter turns.
            if torch.rand(()) < 0.5:
                xb = xb.flip(3)
            xb = torch.rot90(xb, int(torch.randint(0, 4, ())), (2, 3))
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--samples", nargs="*", default=[], help="CLASS=FILE.npz (CLASS a name, an index or `any`)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = np.load(args.data)
    digest = hashlib.sha256(open(args.data, "rb").read()).hexdigest()[:16]
    cache = os.path.expanduser(f"~/.cache/dermaebm-judge/{digest}.pt")
    model = net()
    if os.path.exists(cache):
        model.load_state_dict(torch.load(cache))
    else:
        model = train(data)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        torch.save(model.state_dict(), cache)
    val_y = data["val_labels"].ravel()
    val_pred = predict(model, data["val_images"])
    out = {
        "judge_val_accuracy": float((val_pred == val_y).mean()),
        "majority_val_accuracy": float(np.bincount(val_y).max() / len(val_y)),
        "recall_on_real_val": {CLASSES[k]: float((val_pred[val_y == k] == k).mean()) for k in range(len(CLASSES)) if (val_y == k).any()},
        "samples": [],
    }
    for spec in args.samples:
        name, path = spec.split("=", 1)
        pred = predict(model, np.load(path)["images"])
        shares = {CLASSES[k]: float((pred == k).mean()) for k in range(len(CLASSES))}
        row = {"drawn_under": name, "file": path, "count": int(len(pred)), "judged_as": shares}
        if name != "any":
            k = CLASSES.index(name) if name in CLASSES else int(name)
            row["judged_as_drawn_class"] = shares[CLASSES[k]]
        out["samples"].append(row)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
