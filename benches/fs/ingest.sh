#!/usr/bin/env bash
# Mount-level ingest with and without the commit timer (issue 14): `vexfs import` of N x DIM f32
# vectors (one new file + one setxattr per vector, then the import's closing fsync) into a fresh
# image mounted with -o commit=5 (the default) and with -o commit=0 (no timer), in alternating
# order, ROUNDS times each. Prints each run and the median items/s per setting. Needs root and
# /dev/fuse. The image lives in /var/tmp (a disk, not a tmpfs), so the timer's syncs cost what
# an fdatasync costs there.
#
#   benches/fs/ingest.sh                       # N=100000 DIM=128 ROUNDS=3
#   N=20000 ROUNDS=5 benches/fs/ingest.sh
#
# Not a test: nothing here fails on a missed target.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/lib.sh
ensure_rust
ensure_apt_packages

n="${N:-100000}"
dim="${DIM:-128}"
rounds="${ROUNDS:-3}"
cargo build --release --locked -p vexfs-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
VEXFS="$target_dir/release/vexfs"

work=$(mktemp -d /var/tmp/vexfs-ingest.XXXXXX)
mount_pid=""
cleanup() {
  set +e
  mountpoint -q "$work/mnt" && umount "$work/mnt"
  [ -n "$mount_pid" ] && wait "$mount_pid"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/mnt"

# Seeded data: N vectors of DIM values in [-1, 1).
python3 - "$work/base.fvecs" "$n" "$dim" <<'EOF'
import array, random, struct, sys
path, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1)
with open(path, "wb") as f:
    head = struct.pack("<i", dim)
    for _ in range(n):
        f.write(head)
        f.write(array.array("f", [rng.uniform(-1, 1) for _ in range(dim)]).tobytes())
EOF

echo "machine: $(nproc) cores, $(uname -r); vexfs $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $n x $dim f32, image in /var/tmp"
results="$work/results"
: >"$results"
one_run() {
  local commit=$1
  "$VEXFS" mkfs --force "$work/image" >/dev/null
  "$VEXFS" mount "$work/image" "$work/mnt" -o "commit=$commit" &
  mount_pid=$!
  for _ in $(seq 600); do [ -e "$work/mnt/.vexfs/search" ] && break; sleep 0.05; done
  mkdir "$work/mnt/docs"
  "$VEXFS" index create "$work/mnt/docs" --dim "$dim" >/dev/null
  local t0 t1 cpu
  t0=$(date +%s.%N)
  "$VEXFS" import "$work/mnt/docs" --fvecs "$work/base.fvecs" >/dev/null 2>&1
  t1=$(date +%s.%N)
  # user + system CPU seconds of the mount process so far (clock ticks -> s)
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$mount_pid/stat")
  umount "$work/mnt"
  wait "$mount_pid"
  mount_pid=""
  python3 -c "import sys; n,t0,t1,cpu,c=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]),sys.argv[5]; \
print('commit=%s  %8.0f items/s  (%.1f s wall, mount process %.1f s CPU)' % (c, n/(t1-t0), t1-t0, cpu))" \
    "$n" "$t0" "$t1" "$cpu" "$commit" | tee -a "$results"
}
for r in $(seq "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="5 0"; else order="0 5"; fi
  for c in $order; do one_run "$c"; done
done
python3 - "$results" <<'EOF'
import re, statistics, sys
rates = {}
for line in open(sys.argv[1]):
    m = re.match(r"commit=(\d+)\s+(\d+) items/s", line)
    rates.setdefault(m.group(1), []).append(int(m.group(2)))
med = {c: statistics.median(v) for c, v in rates.items()}
print("median: commit=5 %.0f items/s, commit=0 %.0f items/s: %.1f %%" % (med["5"], med["0"], 100 * med["5"] / med["0"]))
EOF
