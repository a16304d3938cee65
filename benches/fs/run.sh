#!/usr/bin/env bash
# Filesystem benchmark: VexFS against a bindfs passthrough mount of a tmpfs directory, on this
# machine, in one run. Needs root (mounts a tmpfs) and /dev/fuse; installs fuse3 and bindfs if
# missing. Both sides live on the same private tmpfs (bindfs's source directory, VexFS's image).
#
#   benches/fs/run.sh [bench.py options: --files N --seq-mib N --vectors N --search-size N --queries N
#                     --clients 1,2 --only-search]
#
# Prints one table (see bench.py for what each row measures). Not a test: nothing here fails on
# a missed target.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/lib.sh
ensure_rust
ensure_apt_packages
dpkg -s bindfs >/dev/null 2>&1 || { echo "installing: bindfs"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bindfs >/dev/null; }

cargo build --release --locked -p vexfs-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
VEXFS="$target_dir/release/vexfs"

work=$(mktemp -d /tmp/vexfs-fsbench.XXXXXX)
vexfs_pid=""
cleanup() {
  set +e
  mountpoint -q "$work/vexfs" && umount "$work/vexfs"
  [ -n "$vexfs_pid" ] && wait "$vexfs_pid"
  mountpoint -q "$work/bindfs" && fusermount3 -u "$work/bindfs"
  mountpoint -q "$work/tmpfs" && umount "$work/tmpfs"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/tmpfs" "$work/bindfs" "$work/vexfs"
mount -t tmpfs -o size=8g tmpfs "$work/tmpfs"
mkdir "$work/tmpfs/bindfs-src"
bindfs "$work/tmpfs/bindfs-src" "$work/bindfs"
"$VEXFS" mkfs "$work/tmpfs/vexfs.img" >/dev/null
"$VEXFS" mount "$work/tmpfs/vexfs.img" "$work/vexfs" &
vexfs_pid=$!
for _ in $(seq 600); do [ -e "$work/vexfs/.vexfs/search" ] && break; sleep 0.05; done
[ -e "$work/vexfs/.vexfs/search" ] || { echo "the VexFS mount did not appear" >&2; exit 1; }

echo "machine: $(nproc) cores, $(uname -r); vexfs $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $(bindfs --version 2>&1 | head -1)"
python3 benches/fs/bench.py --vexfs "$VEXFS" --vexfs-root "$work/vexfs" --bindfs-root "$work/bindfs" \
  --work "$work/tmpfs" --json-out "${BENCH_JSON:-/dev/null}" "$@"
