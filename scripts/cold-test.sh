#!/usr/bin/env bash
# The README's test command as on a fresh machine, timed (BENCHMARKS.md, "The test command from a
# cold machine"): a clean clone of this repository's HEAD without ../shared beside it, in a fresh
# HOME — no cargo registry, no wasm-pack or wasm-bindgen-cli, no npm cache, a fresh target dir.
# Only the Rust toolchain (rustup's, through a copy of its proxy) and apt's Chromium are kept.
# Every output line is prefixed with the Unix time, so the parts can be timed from the log.
#   bash scripts/cold-test.sh [DIR]    (default /tmp/cold; the log is DIR/log)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-/tmp/cold}"
rustup_bin="$(command -v rustup || echo "$HOME/.cargo/bin/rustup")"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
rm -rf "$dir"
mkdir -p "$dir/home/.cargo/bin"
cp "$rustup_bin" "$dir/home/.cargo/bin/"
for b in cargo rustc rustfmt cargo-fmt cargo-clippy clippy-driver rustdoc; do ln -s rustup "$dir/home/.cargo/bin/$b"; done
git clone -q "$repo" "$dir/repo"
cd "$dir/repo"
start=$(date +%s)
set +e
env -i HOME="$dir/home" RUSTUP_HOME="$rustup_home" PATH="$dir/home/.cargo/bin:/usr/local/bin:/usr/bin:/bin" TERM=dumb \
  bash scripts/test.sh 2>&1 | perl -pe 'BEGIN { $| = 1 } $_ = time() . " $_"' > "$dir/log"
rc=${PIPESTATUS[0]}
echo "rc=$rc seconds=$(( $(date +%s) - start ))" | tee -a "$dir/log"
grep '^[0-9]* == ' "$dir/log"
exit "$rc"
