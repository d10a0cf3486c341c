#!/usr/bin/env python3
"""FID vs the val split over training updates, from weights/fid-history.csv, as a PNG.

    ~/fidvenv/bin/python scripts/plot_fid.py [weights/fid-history.csv] [weights/fid-over-updates.png]

Needs matplotlib (pip install matplotlib). Every row of the CSV is one measurement by
scripts/fid.sh: updates, kind (persistent | persistent-burnin | noise), steps, samples, fid,
kid, note.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src = sys.argv[1] if len(sys.argv) > 1 else "weights/fid-history.csv"
out = sys.argv[2] if len(sys.argv) > 2 else "weights/fid-over-updates.png"
rows = list(csv.DictReader(open(src)))
fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
styles = {
    "persistent": ("C0", "persistent chains (any) continued 40 steps"),
    "persistent-burnin": ("C2", "persistent chains past a 600-step burn-in, 40 steps"),
    "noise": ("C3", "from uniform noise, 256 steps"),
}
for kind, (color, label) in styles.items():
    pts = sorted((int(r["updates"]), float(r["fid"])) for r in rows if r["kind"] == kind)
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=color, label=label)
ax.axhline(23.9, color="grey", ls=":", label="1003 real train images (floor)")
ax.axhline(45, color="C0", ls="--", lw=0.8, label="target, persistent (45)")
ax.axhline(90, color="C3", ls="--", lw=0.8, label="target, from noise (90)")
ax.set_xlabel("contrastive-divergence updates")
ax.set_ylabel("FID vs val (1003 images)")
ax.set_ylim(bottom=0)
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="center right")
ax.set_title("DermaEBM: sample quality over training")
fig.tight_layout()
fig.savefig(out)
print(f"wrote {out}")
