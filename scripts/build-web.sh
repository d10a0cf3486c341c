#!/usr/bin/env bash
# Builds the wasm package into pkg/ (wasm-pack, ES module + TypeScript types), then adds the
# JavaScript half of the package (worker, client, chain helpers, <ebm-sampler>) from js/.
# One build serves the site, the package and the browser tests: the release profile
# (Cargo.toml), which the browser tests use too (`wasm-pack test --release`), so both share one
# compiled copy of burn. Against the dev profile it is 28 % smaller (5.7 vs 7.95 MB gzip) and
# 20 % faster per CD iteration in the browser (BENCHMARKS.md).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
wasm-pack build --release --target web --out-dir pkg --no-opt
# No wasm-opt pass: Debian's binaryen (108) predates this wasm-bindgen's reference-types
# output, and npm's binaryen 132 (wasm-opt -Oz, 9.5 min as JavaScript) cut the raw size 37 → 23 MB
# but not the gzipped one (5.70 → 5.77 MB), which is what a visitor downloads.
node scripts/package-js.mjs
ls -l pkg/dermaebm_bg.wasm
