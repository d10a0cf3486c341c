#!/usr/bin/env python3
"""How diverse a weights file's persistent chains are: each chain's distance (RMS over pixels,
values in [0, 1]) to its nearest other chain, overall and by age, against the same figure for
as many real (train) images. Near-identical chains (nearest neighbour < 0.02) are copies of one lineage
or chains stuck in one mode; real images are ~0.07 apart.

    python scripts/chain_diversity.py weights/dermamnist.debm [--data ../shared/data/dermamnist-ham10000-28.npz]

Needs numpy (the FID venv has it). Reads the DEBMWTS layout of src/weights.rs and the buffer
sections of src/persistent.rs.
"""
import argparse
import json
import struct
import zlib

import numpy as np


def chains(path):
    data = open(path, "rb").read()
    if data[:8] != b"DEBMWTS\0":
        raise SystemExit(f"{path}: not a weights file")
    version, header_len = struct.unpack("<II", data[8:16])
    # Version 3 adds the header's CRC32 after its length (src/weights.rs).
    start = 20 if version >= 3 else 16
    header = json.loads(data[start : start + header_len])
    offset, sections = start + header_len, {}
    for s in header["sections"]:
        raw = data[offset : offset + s["len"]]
        offset += s["len"]
        sections[s["name"]] = zlib.decompress(raw, -15) if s.get("deflated_from") else raw
    if "buffer" not in sections:
        raise SystemExit(f"{path}: holds no persistent chains")
    c, side = header["config"]["channels"], header["config"]["image_size"]
    images = np.frombuffer(sections["buffer"][8:], np.uint8).reshape(-1, c * side * side)
    ages = np.frombuffer(sections.get("buffer_ages", b""), "<u4")
    if len(ages) != len(images):
        ages = np.zeros(len(images), np.uint32)
    return header, images.astype(np.float32) / 255.0, ages


def nearest(x):
    sq = (x**2).sum(1)
    d = np.sqrt(np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0) / x.shape[1])
    np.fill_diagonal(d, np.inf)
    return d.min(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("weights")
    p.add_argument("--data", help="a .npz with train_images, for the real images' figure")
    a = p.parse_args()
    header, x, ages = chains(a.weights)
    nn = nearest(x)
    out = {
        "iteration": header["iteration"],
        "chains": len(x),
        "median_nearest": round(float(np.median(nn)), 4),
        "near_identical_share": round(float((nn < 0.02).mean()), 3),
        "by_age": [],
    }
    for lo, hi in [(0, 600), (600, 1200), (1200, 2400), (2400, None)]:
        m = (ages >= lo) & (ages < (hi or np.iinfo(np.uint32).max))
        if m.any():
            out["by_age"].append(
                {"ages": f"{lo}-{hi or ''}", "chains": int(m.sum()), "median_nearest": round(float(np.median(nn[m])), 4),
                 "near_identical_share": round(float((nn[m] < 0.02).mean()), 3)}
            )
    if a.data:
        real = np.load(a.data)["train_images"][: len(x)].reshape(-1, x.shape[1]).astype(np.float32) / 255.0
        real_nn = nearest(real)
        out["real_median_nearest"] = round(float(np.median(real_nn)), 4)
        out["real_near_identical_share"] = round(float((real_nn < 0.02).mean()), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
