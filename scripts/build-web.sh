#!/usr/bin/env bash
# Builds the wasm package into pkg/ (wasm-pack, ES module + TypeScript types), then adds the
# JavaScript half of the package (worker, client, <ebm-sampler>) from js/.
# The dev profile is used on purpose: dependencies are fully optimised (Cargo.toml), and the
# browser tests build the same way, so both share one compiled copy of burn.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
wasm-pack build --dev --target web --out-dir pkg --no-opt
# No wasm-opt pass: Debian's binaryen (108) predates this wasm-bindgen's reference-types
# output, and its output fails to instantiate (WebAssembly.Table.set).
node scripts/package-js.mjs
ls -l pkg/dermaebm_bg.wasm
