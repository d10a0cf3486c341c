#!/usr/bin/env bash
# Builds the deployable site into dist/ (the wasm package first): copy dist/ to any static host.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
bash scripts/build-web.sh
node scripts/build-site.mjs
