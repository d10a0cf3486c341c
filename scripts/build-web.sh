#!/usr/bin/env bash
# Builds the wasm package into pkg/ (wasm-pack, ES module + TypeScript types), then adds the
# JavaScript half of the package (worker, client, chain helpers, <ebm-sampler>) from js/.
# One build serves the site, the package and the browser tests: the dev profile, whose
# dependencies and crate are fully optimised (Cargo.toml), so both share one compiled copy of
# burn. The release profile (thin LTO) measured 28 % smaller gzipped and 20 % faster in the
# browser, but its two LTO links (package and browser tests) took over 10 minutes each here,
# more than CI's budget allows on a cold machine (BENCHMARKS.md, "Size and start-up").
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
wasm-pack build --dev --target web --out-dir pkg --no-opt
# No wasm-opt pass: Debian's binaryen (108) predates this wasm-bindgen's reference-types
# output, and npm's binaryen 132 (wasm-opt -Oz, 9.5 min as JavaScript) cut the raw size 37 → 23 MB
# but not the gzipped one (5.70 → 5.77 MB), which is what a visitor downloads.
node scripts/package-js.mjs
ls -l pkg/dermaebm_bg.wasm
