#!/usr/bin/env bash
# The one test command: everything CI checks, from a fresh Debian machine with Rust installed.
# Usage: ci/test.sh            (run from anywhere; it cds to the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh

section "setup"
ensure_rust
ensure_apt_packages

section "format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

section "unit, property and integration tests"
cargo test --workspace --locked

section "done"
echo "all checks passed in $SECONDS s"
