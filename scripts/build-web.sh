#!/usr/bin/env bash
# Builds the wasm package into pkg/ (wasm-pack, ES module + TypeScript types), then adds the
# JavaScript half of the package (worker, client, chain helpers, <ebm-sampler>) from js/.
# One build serves the site, the package and the browser tests: the release profile
# (Cargo.toml: no LTO, dependencies at opt-level "z" but the CPU path at 3, stripped), about
# 4 MB gzipped; BENCHMARKS.md "Size and start-up" has the variants measured.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
wasm-pack build --release --target web --out-dir pkg --no-opt
# No wasm-opt pass: Debian's binaryen (108) predates this wasm-bindgen's reference-types
# output, and npm's binaryen 132 (wasm-opt -Oz, 9.5 min as JavaScript) cut a thin-LTO build's
# raw size 37 → 23 MB but not its gzipped size (5.70 → 5.77 MB), which is what a visitor
# downloads.
node scripts/package-js.mjs
ls -l pkg/dermaebm_bg.wasm
