#!/usr/bin/env bash
# Short fuzz run of every cargo-fuzz target (stable Rust: --sanitizer none), bounded in time.
# Usage: ci/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
# Each target fuzzes from a copy of its committed corpus (fuzz/corpus/<t>), so the run never
# changes the repository. Every real target must run clean; the `canary` target must FAIL
# (it reports a reachable state on purpose), which proves that failures are noticed.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
secs="${1:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo fuzz build --sanitizer none
for t in ops image query codec; do
  mkdir -p "$work/$t"
  echo "--- fuzz $t for ${secs}s"
  if ! cargo fuzz run --sanitizer none "$t" "$work/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$work/$t-" >"$work/$t.log" 2>&1; then
    tail -40 "$work/$t.log"
    echo "fuzz target $t FAILED; the crash input is in the log above (artifact under $work)" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/$t.log" | tail -1 || true
done
echo "--- fuzz canary (must fail within 120s)"
mkdir -p "$work/canary"
if cargo fuzz run --sanitizer none canary "$work/canary" "fuzz/corpus/canary" -- \
    -max_total_time=120 -timeout=20 -artifact_prefix="$work/canary-" >"$work/canary.log" 2>&1; then
  tail -20 "$work/canary.log"
  echo "the canary target did not fail: fuzzing failures would go unnoticed" >&2
  exit 1
fi
if ! grep -q "canary: collection" "$work/canary.log"; then
  tail -40 "$work/canary.log"
  echo "the canary target failed, but not with the canary's own message" >&2
  exit 1
fi
grep -E "^#[0-9]+" "$work/canary.log" | tail -1 || true
echo "canary target failed as it must"
