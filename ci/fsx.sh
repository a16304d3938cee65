#!/usr/bin/env bash
# Data integrity: fsx (fsx-rs 0.3.2, from crates.io) inside a fresh VexFS mounted with the
# `vexfs` CLI, with every operation enabled — pread/pwrite, mmap reads and writes (with msync and
# MS_INVALIDATE), truncate, close/open, fsync, fdatasync, posix_fallocate, punch hole, sendfile,
# copy_file_range, posix_fadvise — checking every byte it reads against its model.
#
# fsx 0.3.2 leaks one mapping per mmap read, so the operations run in chunks of at most 25,000 per
# process, each chunk with its own seed and file: FSX_CHUNKS chunks (default 4, i.e. 100,000
# operations). Afterwards the image must unmount cleanly and pass fsck.
#
# Needs root and /dev/fuse (CI has both). Usage: ci/fsx.sh   (from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
ensure_rust

FSX_VERSION=0.3.2
OPS_PER_CHUNK=25000
chunks=${FSX_CHUNKS:-4}
[ -c /dev/fuse ] || { echo "fsx.sh: /dev/fuse is missing" >&2; exit 2; }

section "fsx: setup"
export PATH="$HOME/.cargo/bin:$PATH"
if ! fsx --version 2>/dev/null | grep -q "$FSX_VERSION"; then
  cargo install fsx --locked --version "$FSX_VERSION"
fi
cargo build --locked -p vexfs-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
vexfs="${target_dir:-target}/debug/vexfs"

work=$(mktemp -d /tmp/vexfs-fsx.XXXXXX)
mnt="$work/mnt"
mount_pid=""
cleanup() {
  if [ -n "$mount_pid" ] && kill -0 "$mount_pid" 2>/dev/null; then
    kill -TERM "$mount_pid" 2>/dev/null || true
    wait "$mount_pid" 2>/dev/null || true
  fi
  grep -q " $mnt " /proc/mounts && umount -l "$mnt"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt" "$work/artifacts"

cat > "$work/fsx.toml" <<'EOF'
# Every operation fsx knows, with mmap and data operations most frequent.
flen = 262144
nomsyncafterwrite = false
nosizechecks = false
[opsize]
max = 65536
min = 0
align = 1
[weights]
close_open = 1
invalidate = 1
read = 10
write = 10
mapread = 10
mapwrite = 10
truncate = 5
fsync = 1
fdatasync = 1
posix_fallocate = 2
punch_hole = 2
sendfile = 2
posix_fadvise = 1
copy_file_range = 2
EOF

"$vexfs" mkfs "$work/image"
"$vexfs" mount "$work/image" "$mnt" > "$work/mount.log" 2>&1 &
mount_pid=$!
for _ in $(seq 100); do [ -e "$mnt/.vexfs/stats" ] && break; sleep 0.1; done
[ -e "$mnt/.vexfs/stats" ] || { cat "$work/mount.log"; echo "mount did not come up" >&2; exit 1; }

status=0
total=0
for chunk in $(seq 1 "$chunks"); do
  section "fsx: chunk $chunk of $chunks ($OPS_PER_CHUNK operations, seed $chunk)"
  if fsx -f "$work/fsx.toml" -N "$OPS_PER_CHUNK" -S "$chunk" -P "$work/artifacts" "$mnt/fsx.$chunk" \
      > "$work/fsx.$chunk.log" 2>&1 && grep -q 'All operations completed A-OK!' "$work/fsx.$chunk.log"; then
    total=$((total + OPS_PER_CHUNK))
    tail -1 "$work/fsx.$chunk.log"
  else
    status=1
    echo "fsx chunk $chunk FAILED:"; tail -60 "$work/fsx.$chunk.log"
    ls -la "$work/artifacts"
  fi
done

section "fsx: unmount and fsck"
kill -TERM "$mount_pid"
wait "$mount_pid" || { echo "vexfs mount exited with $?"; cat "$work/mount.log"; status=1; }
mount_pid=""
"$vexfs" fsck "$work/image" || status=1

echo "fsx: $total operations without a miscompare ($chunks chunks of $OPS_PER_CHUNK)"
[ "$status" = 0 ] && echo "fsx: passed" || echo "fsx: FAILED"
exit "$status"
