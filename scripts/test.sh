#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: formatting, lints, then every test of the
# workspace with cargo-nextest — the HTTP suite once on SQLite and once on PostgreSQL, the store
# suite and the multi-node tests on both/PostgreSQL — then the README's tour as written against a
# fresh server (scripts/readme-tour.sh), then schemathesis against the native OpenAPI document of
# a running server on each backend (scripts/schemathesis.sh). Installs and starts what is missing
# first.
#
# Every stage runs even when an earlier one failed, so one red test does not hide the other
# backend; the script fails at the end if any stage did, naming them.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked || exit 1
fi

# The dataplane tests check every compiled ruleset with `nft -c`, and the enforcement tests
# send real packets between network namespaces (as root): nftables, and ping for ICMP probes.
missing=()
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v ping >/dev/null 2>&1 || missing+=(iputils-ping)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } || exit 1
fi

bash scripts/postgres.sh || exit 1

failed=()
stage() {
    local name=$1
    shift
    echo "=== $name" >&2
    if ! "$@"; then
        echo "=== $name FAILED" >&2
        failed+=("$name")
    fi
}

stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --workspace --all-targets --locked -- -D warnings
stage tests-sqlite cargo nextest run --workspace --locked --no-fail-fast
stage tests-postgres env PALISADE_TEST_BACKEND=postgres cargo nextest run -p palisade --locked --no-fail-fast
stage readme-tour bash scripts/readme-tour.sh
stage schemathesis-sqlite bash scripts/schemathesis.sh
stage schemathesis-postgres bash scripts/schemathesis.sh --postgres

if ((${#failed[@]})); then
    echo "failed stages: ${failed[*]}" >&2
    exit 1
fi
echo "all stages passed" >&2
