#!/usr/bin/env bash
# Sets up, builds the wasm package and serves the site with the shipped weights on localhost.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
bash scripts/setup.sh
bash scripts/build-web.sh
exec node scripts/serve.mjs
