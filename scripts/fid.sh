#!/usr/bin/env bash
# FID/KID of a weights or checkpoint file against the val split, for both ways of sampling:
# from noise with the site's default (a contrastive model: 256 Langevin steps; a recovery model:
# the walk down its levels, as trained; FID_NOISE_STEPS overrides, per level for recovery) and,
# for a contrastive model, the persistent chains past their burn-in (FID_BURN_IN, default 600
# steps) continued for 40 steps. 1003 samples each (the val split's size). Needs ../shared (the data and bench/quality.py) and a venv with quality.py's packages (FID_PYTHON, default
# ~/fidvenv/bin/python; install commands in ../shared/bench/README.md).
#
#   bash scripts/fid.sh [WEIGHTS] [OUT_DIR]        # prints one JSON line per kind
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
weights="${1:-weights/dermamnist.debm}"
out="${2:-$(mktemp -d)}"
shared="${SHARED:-$REPO_ROOT/../shared}"
python="${FID_PYTHON:-$HOME/fidvenv/bin/python}"
count="${FID_COUNT:-1003}"
mkdir -p "$out"
# DEBM=PATH uses a debm already built (e.g. the native profile's) instead of building the dev one.
debm="${DEBM:-}"
if [ -z "$debm" ]; then
  cargo build --quiet --bin debm
  debm="$CARGO_TARGET_DIR/debug/debm"
fi
quality() {
  "$python" "$shared/bench/quality.py" --a "$1:images" \
    --b "$shared/data/dermamnist-ham10000-28.npz:val_images" --cache "$HOME/.cache/fidcache"
}
"$debm" sample --weights "$weights" --count "$count" ${FID_NOISE_STEPS:+--steps "$FID_NOISE_STEPS"} --seed "${FID_SEED:-0}" \
  --png "$out/noise.png" --npz "$out/noise.npz"
echo "{\"kind\": \"noise\", \"steps\": \"${FID_NOISE_STEPS:-default}\", \"weights\": \"$weights\", \"quality\": $(quality "$out/noise.npz")}"
burn_in="${FID_BURN_IN:-600}"
if [ -z "${FID_NOISE_ONLY:-}" ] && "$debm" sample --weights "$weights" --persistent --count "$count" --steps "${FID_PERSISTENT_STEPS:-40}" --seed "${FID_SEED:-0}" \
  --burn-in "$burn_in" --png "$out/persistent.png" --npz "$out/persistent.npz"; then
  echo "{\"kind\": \"persistent\", \"steps\": ${FID_PERSISTENT_STEPS:-40}, \"burn_in\": $burn_in, \"weights\": \"$weights\", \"quality\": $(quality "$out/persistent.npz")}"
fi
