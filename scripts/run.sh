#!/usr/bin/env bash
# Runs kurve-server with the web client on http://127.0.0.1:4000 (embedded SQLite in
# ./kurve.db, nothing else to start). Extra arguments go to kurve-server, e.g.
#   scripts/run.sh --bind 0.0.0.0:4000 --tick-hz 30
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f web-client/package.json ]; then
  echo "==> building the web client"
  (cd web-client && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
fi

echo "==> building and starting kurve-server"
exec cargo run --release -p kurve-server -- "$@"
