#!/usr/bin/env bash
# Runs the shell snippets of the README's "Using the mount" section as pasted, so the README
# cannot drift from what vexfs does: a fresh image is mounted in the background (`vexfs mount
# -d`), `vexfs` is put first on the PATH, and each ```sh block runs under `bash -euo pipefail`
# (every command must succeed). The only change made to the text is where it lives: `/mnt/vexfs`
# becomes the scratch mountpoint and `/tmp/` a scratch directory. Then every output the
# comments promise is checked: a `vexfs vector get` line's comment must be the line it prints,
# and the JSON a `cat <&3` line's comment shows (before any "...") must be among what it prints.
#
# Usage: ci/readme.sh [VEXFS_BINARY]   (default: target/debug/vexfs, built if missing)
# Needs root, /dev/fuse, fuse3 and attr (ci/test.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
bin_in=${1:-${CARGO_TARGET_DIR:-target}/debug/vexfs}
[ -x "$bin_in" ] || cargo build --locked -p vexfs-cli
work=$(mktemp -d)
mnt="$work/mnt"
mkdir -p "$work/bin" "$work/tmp" "$mnt"
ln -s "$(realpath "$bin_in")" "$work/bin/vexfs"
export PATH="$work/bin:$PATH"
cleanup() {
  cd /
  if grep -q " $mnt " /proc/mounts; then
    umount "$mnt" 2>/dev/null || umount -l "$mnt"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The section, from its heading to the next one; its ```sh blocks, one file each.
awk '/^## Using the mount/ { on = 1; next } /^## / { on = 0 } on' README.md > "$work/section.md"
awk -v dir="$work" '
  /^```sh$/ { n++; file = dir "/snippet" n ".sh"; inblock = 1; next }
  /^```/ { inblock = 0; next }
  inblock { print > file }
' "$work/section.md"
count=$(find "$work" -maxdepth 1 -name 'snippet*.sh' | wc -l)
[ "$count" -ge 2 ] || { echo "readme.sh: found $count sh snippets in 'Using the mount'" >&2; exit 1; }

vexfs mkfs "$work/image" >/dev/null
vexfs mount -d "$work/image" "$mnt" >/dev/null
failed=0
for ((i = 1; i <= count; i++)); do
  snippet="$work/snippet$i.sh"
  sed -i -e "s|/tmp/|$work/tmp/|g" -e "s|/mnt/vexfs|$mnt|g" "$snippet"
  echo "--- README snippet $i"
  sed 's/^/    /' "$snippet"
  if ! (cd "$work" && bash -euo pipefail "$snippet") > "$work/out$i" 2> "$work/err$i"; then
    echo "README snippet $i failed:" >&2
    cat "$work/out$i" "$work/err$i" >&2
    exit 1
  fi
  # Promised outputs.
  while IFS= read -r line; do
    promise=${line#*# }
    case "$line" in
      "vexfs vector get "*)
        grep -qxF -- "$promise" "$work/out$i" || { echo "README snippet $i: '$line' did not print '$promise'" >&2; failed=1; } ;;
      "cat <&3"*)
        promise=${promise%% ...*}
        grep -qF -- "$promise" "$work/out$i" || { echo "README snippet $i: '$line' did not print '$promise'; it printed:" >&2; cat "$work/out$i" >&2; failed=1; } ;;
    esac
  done < <(grep -E '^(vexfs vector get |cat <&3).*# ' "$snippet")
done
[ "$failed" = 0 ] || exit 1
echo "README snippets: $count ran as pasted, their promised outputs match"
