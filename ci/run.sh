#!/usr/bin/env bash
# The main job: build vexfs (release), make an image if there is none, and mount it in the
# foreground until unmounted (`umount MOUNTPOINT`, Ctrl-C or SIGTERM), which writes a checkpoint.
#
#   VEXFS_IMAGE   the image file   (default: $HOME/vexfs.img, created with `vexfs mkfs` if missing)
#   VEXFS_MOUNT   the mountpoint   (default: /mnt/vexfs, created if missing)
#   extra arguments go to `vexfs mount` (e.g. --threads 4, -o allow_other)
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
ensure_rust
ensure_apt_packages   # fuse3 (fusermount3), attr (setfattr, used by the README's examples)

image=${VEXFS_IMAGE:-$HOME/vexfs.img}
mnt=${VEXFS_MOUNT:-/mnt/vexfs}

cargo build --release --locked -p vexfs-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
vexfs="${target_dir:-target}/release/vexfs"
link_vexfs "$vexfs"

if [ ! -s "$image" ]; then
  mkdir -p "$(dirname "$image")"
  "$vexfs" mkfs "$image"
fi
# A mount left behind by a killed run answers "Transport endpoint is not connected": clear it.
if ! stat "$mnt" >/dev/null 2>&1 && grep -q " $mnt " /proc/mounts; then
  umount -l "$mnt" || fusermount3 -uz "$mnt" || true
fi
mkdir -p "$mnt"
echo "mounting $image on $mnt; stop with: umount $mnt (or Ctrl-C)"
exec "$vexfs" mount "$image" "$mnt" "$@"
