#!/usr/bin/env bash
# Builds the wasm package into pkg/ (wasm-pack, ES module + TypeScript types).
# The dev profile is used on purpose: dependencies are fully optimised (Cargo.toml), and the
# browser tests build the same way, so both share one compiled copy of burn.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
wasm-pack build --dev --target web --out-dir pkg --no-opt
# Size: drop debug info and optimise with Debian's binaryen when present.
if command -v wasm-opt >/dev/null; then
  wasm-opt pkg/dermaebm_bg.wasm -O2 --strip-debug --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals -o pkg/dermaebm_bg.wasm.opt
  mv pkg/dermaebm_bg.wasm.opt pkg/dermaebm_bg.wasm
fi
ls -l pkg/dermaebm_bg.wasm
