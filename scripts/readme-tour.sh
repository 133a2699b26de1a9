#!/usr/bin/env bash
# Runs the README's tour as written against a fresh server started from the built binary on its
# embedded SQLite default (scripts/readme_tour.py says how), and fails when a step does. A few
# seconds once the binary is built (the same build scripts/schemathesis.sh uses); CI runs it as
# a stage of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --quiet -p palisade --bin palisade
target=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
exec python3 scripts/readme_tour.py --binary "$target/debug/palisade" "$@"
