#!/usr/bin/env bash
# The main job: build VexFS and show it working. (Mounting arrives with the FUSE frontend; until
# then this runs the in-process API tour.)
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
ensure_rust
cargo run --release --locked -p vexfs --example quickstart
