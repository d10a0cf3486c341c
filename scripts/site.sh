#!/usr/bin/env bash
# Sets up, builds the deployable site (dist/) and serves it on http://localhost:8080 with a plain
# static file server (Python's), as any host would. `node scripts/serve.mjs` serves the sources
# directly for development.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT"
bash scripts/setup.sh
bash scripts/build-site.sh
echo "serving dist/ on http://localhost:${PORT:-8080}/"
exec python3 -m http.server "${PORT:-8080}" --bind 127.0.0.1 --directory dist
