#!/usr/bin/env bash
# Runs every test suite: formatting and lints, Rust unit and integration tests, the
# protocol tests with the official phoenix JS client, and the browser end-to-end tests.
# Installs what the suites need (npm packages; nats-server and PostgreSQL for the
# cluster tests; Chromium for the browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
# A clean run builds once; incremental caches would only take disk.
export CARGO_INCREMENTAL=0
step() { printf '\n==> %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "module imports run one way"
python3 scripts/check-imports.py server/src shared/src tests/src

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (unit and integration)"
scripts/install-nats.sh
scripts/install-postgres.sh
# Built with every target at once so the binaries the JS and browser suites run
# (kurve-server, kurve-soak) share the test build's features and are not rebuilt.
cargo build --workspace --all-targets
cargo test --workspace

step "protocol tests (official phoenix client, node:test)"
cargo build --workspace --all-targets
(cd tests/js && npm ci --no-audit --no-fund && npm test)

if [ -f tests/e2e/package.json ]; then
  step "browser end-to-end tests (Chromium)"
  scripts/install-chromium.sh
  cargo build --workspace --all-targets
  # The build type-checks; `npm test` runs the unit tests (the prediction port over
  # kurve-sim-trace among them); `npm run lint` is ESLint.
  (cd web-client && npm ci --no-audit --no-fund && npm run build && npm test && npm run lint)
  (cd tests/e2e && npm ci --no-audit --no-fund && npm test)
fi

step "all suites passed"
