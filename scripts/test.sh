#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, then every test of the
# workspace with cargo-nextest — the HTTP suite once on SQLite and once on PostgreSQL, the store
# suite and the multi-node tests on both/PostgreSQL. Installs and starts what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
fi

bash scripts/postgres.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --no-fail-fast
PALISADE_TEST_BACKEND=postgres cargo nextest run -p palisade --locked --no-fail-fast
