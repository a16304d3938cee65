#!/usr/bin/env bash
# Resident memory per vector of a fresh mount (issue 17 item 1).
#
#   benches/fs/mount_rss.sh N DIM [VEXFS [VEXFS_BENCH]]
#
# Makes (or reuses) an image holding one collection /c of N seeded clustered Gaussian f32
# vectors of DIM dimensions with `vexfs-bench image reopen` (one file per vector, closed with a
# checkpoint), mounts it with `vexfs mount`, runs one search (`--like` the first file), and
# prints the mount's anonymous resident memory (RssAnon in /proc/PID/status: heap and anonymous
# maps, not the binary's pages or the page cache), divided by N, next to the index's own
# accounting (`memory_bytes` of /.vexfs/stats) per vector; then unmounts. Give two VEXFS binaries
# by running the script once per binary, interleaved, on the same image (the image format is
# the same). Needs root (mount/umount) and /dev/fuse. Binaries default to target/release.
set -euo pipefail
n=${1:?N}; dim=${2:?DIM}
vexfs=${3:-target/release/vexfs}; bench=${4:-target/release/vexfs-bench}
img=${IMAGE:-${TMPDIR:-/tmp}/vexfs-mount-rss-${n}x${dim}.img}
[ -f "$img" ] || "$bench" image reopen --n "$n" --dim "$dim" --runs 1 --image "$img" >&2
mnt=$(mktemp -d)
"$vexfs" mount "$img" "$mnt" & pid=$!
trap 'umount "$mnt" 2>/dev/null || true; wait $pid 2>/dev/null || true; rmdir "$mnt"' EXIT
for _ in $(seq 600); do [ -e "$mnt/.vexfs/stats" ] && break; sleep 0.1; done
"$vexfs" search "$mnt/c" --like "$mnt/c/v000000000" -k 10 >/dev/null
anon_kb=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
index=$(python3 -c 'import json,sys; print(sum(c["memory_bytes"] for c in json.load(open(sys.argv[1]))["collections"]))' "$mnt/.vexfs/stats")
python3 -c 'import sys; n,a,i=map(int,sys.argv[1:4]); print(f"{sys.argv[4]}: n={n} RssAnon={a/1024:.1f} MiB, {a*1024/n:.0f} B/vector; index memory_bytes {i/n:.0f} B/vector")' "$n" "$anon_kb" "$index" "$vexfs"
