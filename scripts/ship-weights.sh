#!/usr/bin/env bash
# Makes a training state the shipped weights: writes its sampling-only copy to
# weights/dermamnist.debm (`debm strip`: the net that samples, the persistent chains of a
# contrastive model, the probe; no training state — the full checkpoint stays with the run and
# resumes it; "Continue training" on the site starts from the copy), fits its linear
# classifier (debm probe, figures in weights/probe.json) and redraws the pictures in weights/
# from it (seed 0, so a rerun draws the same ones). Measure it first (scripts/fid.sh) and ship only
# what measures better; record the figures in weights/fid-history.csv and weights/fid.json.
#
#   bash scripts/ship-weights.sh STATE [NAME]
#
# NAME (default dermamnist, the site's default model) names the file weights/NAME.debm; another
# name (recovery: the recovery-likelihood model behind the site's ?model=recovery) prefixes its
# pictures and probe figures with NAME- and leaves the default model's alone.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
state="$1"
# DEBM=PATH uses a debm already built (e.g. the native profile's) instead of building the dev one.
debm="${DEBM:-}"
if [ -z "$debm" ]; then
  cargo build --quiet --bin debm
  debm="$CARGO_TARGET_DIR/debug/debm"
fi
name="${2:-dermamnist}"
prefix=""
[ "$name" = dermamnist ] || prefix="$name-"
w="weights/$name.debm"
"$debm" strip "$state" --out "$w"
# The classifier the site and `debm eval` use: a linear probe on this net's features (a state
# fresh from training has none; a probe of an earlier net would be ignored).
"$debm" probe --weights "$w" --data ../shared/data/dermamnist-ham10000-28.npz > "weights/${prefix}probe.json"
if grep -a -q -E '"recipe":"(recovery|denoising)"' "$w"; then
  # From noise through the levels (the site's default); the per-class sheet sorts samples by
  # the probe's class; the GIF and walk.png show the walk level by level.
  "$debm" sample --weights "$w" --count 64 --seed 0 --png "weights/${prefix}samples.png"
  "$debm" sample --weights "$w" --by-class --count 8 --seed 0 --png "weights/${prefix}samples-by-class.png"
  "$debm" sample --weights "$w" --count 9 --seed 0 --png /tmp/walk-sheet.png --gif "weights/${prefix}chain.gif" --walk "weights/${prefix}walk.png"
  [ -n "$prefix" ] || rm -f weights/samples-noise.png
else
  "$debm" sample --weights "$w" --persistent --count 64 --seed 0 --png weights/samples.png
  "$debm" sample --weights "$w" --persistent --by-class --count 8 --seed 0 --png weights/samples-by-class.png
  "$debm" sample --weights "$w" --count 64 --steps 256 --seed 0 --png weights/samples-noise.png
  "$debm" sample --weights "$w" --persistent --count 9 --steps 48 --seed 0 --png /tmp/chain-sheet.png --gif weights/chain.gif
fi
