#!/usr/bin/env bash
# Every test: native (cargo test, CPU backend), then in Chromium (wasm-bindgen tests on WebGPU
# and on the CPU backend inside wasm).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
bash scripts/setup.sh

echo "== format and lints"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
# The wasm shell (src/wasm/) and the browser tests only exist for the wasm target.
cargo clippy --target wasm32-unknown-unknown --lib --tests --quiet -- -D warnings

echo "== native tests"
if [ ! -f "$REPO_ROOT/../shared/data/dermamnist-ham10000-28.npz" ]; then
  echo "note: ../shared/data/dermamnist-ham10000-28.npz is not beside this clone: the full-file check in tests/data.rs is SKIPPED (the bundled sample in data/ is checked instead)"
fi
cargo test --no-fail-fast

echo "== browser tests (headless Chromium, WebGPU via SwiftShader + CPU backend in wasm)"
wasm-pack test --release --headless --chrome --test web

echo "== site end-to-end tests (Playwright + Chromium against dist/ under a sub-path on a plain static server)"
bash scripts/build-site.sh
node --test tests/e2e/
