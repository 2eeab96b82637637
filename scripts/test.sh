#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need first.
#   scripts/test.sh            # all tests
#   scripts/test.sh -p pipeline  # extra arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo test --workspace --all-targets "$@"
# Doc tests (not part of --all-targets).
cargo test --workspace --doc "$@"
