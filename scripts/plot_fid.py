#!/usr/bin/env python3
"""FID vs the val split over training updates, from weights/fid-history.csv, as a PNG.

    ~/fidvenv/bin/python scripts/plot_fid.py [weights/fid-history.csv] [weights/fid-over-updates.png]

Needs matplotlib (pip install matplotlib). Every row of the CSV is one measurement by
scripts/fid.sh: updates, run ("shipped line" for the states shipped one after another, else
the branch that was tried from one of them), kind (persistent | persistent-burnin | noise),
steps, samples, fid, kid, note. Colour says the kind of sampling; each run is its own line
(solid: the shipped line; dashed, one marker per run: a branch), so branches that were
tried and dropped do not read as one curve.
"""
import csv
import itertools
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

src = sys.argv[1] if len(sys.argv) > 1 else "weights/fid-history.csv"
out = sys.argv[2] if len(sys.argv) > 2 else "weights/fid-over-updates.png"
rows = list(csv.DictReader(open(src)))
fig, ax = plt.subplots(figsize=(10.5, 4.8), dpi=110)
styles = {
    "persistent": ("C0", "persistent chains (any) continued 40 steps"),
    "persistent-burnin": ("C2", "persistent chains past a 600-step burn-in, 40 steps"),
    "noise": ("C3", "from uniform noise, 256 steps"),
}
# The recovery-likelihood runs (their own recipe and sampler: a walk from N(0, I) down the noise
# levels), each a solid line of its own; the final-step variants are not drawn (README).
# The denoising runs (issue 45: a Heun walk of 35 evaluations from noise) in their own colour,
# the PyTorch prototype of the same recipe dashed beside them.
walks = sorted({r["run"] for r in rows if r["kind"] in ("noise-walk", "noise-walk-prototype")})
for run in walks:
    pts = sorted((int(r["updates"]), float(r["fid"])) for r in rows if r["kind"] in ("noise-walk", "noise-walk-prototype") and r["run"] == run)
    denoising = run.startswith("denoising")
    style = ("s--" if "prototype" in run else "o-") if denoising else "o-"
    what = "from N(0, 20² I), Heun walk of 35 evaluations" if denoising else "from N(0, I) through the noise levels"
    ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color="C1" if denoising else "C4", label=f"{run}: {what}")
rows = [r for r in rows if r["run"] not in walks]
runs = sorted({r["run"] for r in rows}, key=lambda run: min(int(r["updates"]) for r in rows if r["run"] == run))
markers = dict(zip([r for r in runs if r != "shipped line"], itertools.cycle("sD^vP*Xh")))
for kind, (color, label) in styles.items():
    shipped = sorted((int(r["updates"]), float(r["fid"])) for r in rows if r["kind"] == kind and r["run"] == "shipped line")
    if shipped:
        ax.plot([p[0] for p in shipped], [p[1] for p in shipped], "o-", color=color, label=f"{label} (shipped line)")
    for run in markers:
        pts = sorted((int(r["updates"]), float(r["fid"])) for r in rows if r["kind"] == kind and r["run"] == run)
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], markers[run] + "--", color=color, ms=5, lw=0.9, alpha=0.8)
for run, marker in markers.items():
    ax.plot([], [], marker, color="grey", ls="--", lw=0.9, label=f"{run} (branch, not shipped)")
ax.axhline(23.9, color="grey", ls=":", label="1003 real train images (floor)")
ax.axhline(45, color="C0", ls="--", lw=0.8, label="target, persistent (45)")
ax.axhline(90, color="C3", ls="--", lw=0.8, label="target, from noise (90)")
ax.axhline(60, color="C1", ls="--", lw=0.8, label="target from noise, recovery and denoising (60)")
ax.set_xlabel("training updates")
ax.set_ylabel("FID vs val (1003 images)")
ax.set_ylim(bottom=0)
ax.grid(alpha=0.3)
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
ax.set_title("DermaEBM: sample quality over training")
fig.tight_layout()
fig.savefig(out, bbox_inches="tight")
print(f"wrote {out}")
