# Shared settings for the scripts (sourced, not run).
# Builds reuse one target directory outside the clone, so CI and repeated runs stay warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dermaebm/target}"
export PATH="$HOME/.cargo/bin:$PATH"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
# Software shader compiles (SwiftShader) are slow.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
