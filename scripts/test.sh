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

echo "== native tests"
if [ ! -f "$REPO_ROOT/../shared/data/dermamnist-ham10000-28.npz" ]; then
  echo "note: ../shared/data/dermamnist-ham10000-28.npz is not beside this clone: the full-file check in tests/data.rs is SKIPPED (the bundled sample in data/ is checked instead)"
fi
# Without the GPU backend (Cargo.toml, feature `gpu`): the native tests run on the CPU backend
# only; the browser tests below build and run the GPU one.
cargo test --no-fail-fast --no-default-features

echo "== browser tests (headless Chromium, WebGPU via SwiftShader + CPU backend in wasm)"
# The wasm shell (src/wasm/) and the browser tests only exist for the wasm target: they are
# linted as the browser build compiles them (clippy's driver compiles this crate, as
# `cargo clippy` runs it, with `-D warnings`), so the dependencies are compiled once for wasm32
# rather than once more in check mode. CLIPPY_ARGS is how cargo-clippy hands its arguments over.
export RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
wasm-pack test --release --headless --chrome --test web

echo "== site end-to-end tests (Playwright + Chromium against dist/ under a sub-path on a plain static server)"
bash scripts/build-site.sh
# Two test files at a time: each has its own static host, browser and storage, and most of a
# test is waiting (for checkpoints, polls, a page's start), so two overlap well on two cores.
node --test --test-concurrency=2 tests/e2e/
