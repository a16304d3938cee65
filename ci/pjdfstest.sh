#!/usr/bin/env bash
# POSIX conformance: pjdfstest (the Rust rewrite, from crates.io) inside a fresh VexFS mounted with
# the `vexfs` CLI. Every case must pass, or be listed in ci/pjdfstest-expected-failures.txt with
# its reason; a case that is skipped for any reason not accounted for below fails the run.
#
# Needs root and /dev/fuse (CI has both). Usage: ci/pjdfstest.sh   (from anywhere)
#
# Two passes, each a fresh pjdfstest process on the same mount:
#   1. every case except the EROFS ones (allow_remount = false, so pjdfstest skips them);
#   2. only the EROFS cases (allow_remount = true). They remount the filesystem read-only, which
#      the kernel refuses (EBUSY) while any file on it is open for writing or unlinked-but-open,
#      and some pjdfstest cases leak such descriptors (posix_fallocate::affected_only_create_flags
#      never closes the two it opens) — so they run in a process of their own. `mount` is wrapped
#      with `mount -i` for them: without it util-linux hands a FUSE remount to mount.fuse3, which
#      tries to run the filesystem's source name ("vexfs") as a program.
# The one case allowed to be skipped is link::link_count_max: glibc's pathconf(_PC_LINK_MAX) does
# not know FUSE's filesystem type and reports no limit, so pjdfstest cannot run it anywhere on FUSE.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh
ensure_rust

PJDFSTEST_VERSION=0.2.2
[ "$(id -u)" = 0 ] || { echo "pjdfstest.sh: must run as root" >&2; exit 2; }
[ -c /dev/fuse ] || { echo "pjdfstest.sh: /dev/fuse is missing" >&2; exit 2; }

section "pjdfstest: setup"
export PATH="$HOME/.cargo/bin:$PATH"
if ! pjdfstest --version 2>/dev/null | grep -q "$PJDFSTEST_VERSION"; then
  cargo install pjdfstest --locked --version "$PJDFSTEST_VERSION"
fi
# pjdfstest switches to two unprivileged users; Debian has nobody, add "tests".
id tests >/dev/null 2>&1 || useradd --system --user-group --no-create-home --shell /usr/sbin/nologin tests
nobody_group=$(id -gn nobody)

cargo build --locked -p vexfs-cli
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
vexfs="${target_dir:-target}/debug/vexfs"

work=$(mktemp -d /tmp/vexfs-pjdfstest.XXXXXX)
chmod 0755 "$work" # the unprivileged users must reach the mountpoint
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
mkdir -p "$mnt" "$work/secondary" "$work/bin"
printf '#!/bin/sh\nexec /bin/mount -i "$@"\n' > "$work/bin/mount"
chmod +x "$work/bin/mount"

"$vexfs" mkfs "$work/image"
"$vexfs" mount "$work/image" "$mnt" -o allow_other > "$work/mount.log" 2>&1 &
mount_pid=$!
for _ in $(seq 100); do [ -e "$mnt/.vexfs/stats" ] && break; sleep 0.1; done
[ -e "$mnt/.vexfs/stats" ] || { cat "$work/mount.log"; echo "mount did not come up" >&2; exit 1; }
chmod 0755 "$mnt"

# The expected-failures list: one case name per line, then '#' and the reason.
expected=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' ci/pjdfstest-expected-failures.txt | grep -v '^$' || true)
expected_toml=$(printf '%s\n' $expected | sed -e '/^$/d' -e 's/.*/  "&",/')
config() { # $1: allow_remount
  cat <<EOF
[features]
posix_fallocate = {}
rename_ctime = {}
utime_now = {}
utimensat = {}

[settings]
naptime = 0.001
allow_remount = $1
expected_failures = [
$expected_toml
]

[dummy_auth]
entries = [
  ["nobody", "$nobody_group"],
  ["tests", "tests"],
]
EOF
}
config false > "$work/all.toml"
config true > "$work/erofs.toml"

status=0
run_pass() { # $1: name, $2: config, rest: patterns
  local name=$1 cfg=$2
  shift 2
  section "pjdfstest: $name"
  if (cd "$mnt" && NO_COLOR=1 PATH="$work/bin:$PATH" pjdfstest -c "$cfg" -p "$mnt" -s "$work/secondary" "$@") \
      > "$work/$name.log" 2>&1; then :; else status=1; fi
  grep -E '(FAILED|PASSED UNEXPECTEDLY|failed as expected)$' -A2 "$work/$name.log" || true
  grep -E '^Summary' "$work/$name.log" || { tail -20 "$work/$name.log"; status=1; }
}
run_pass all "$work/all.toml"
run_pass erofs "$work/erofs.toml" erofs

# No silent skips: in the first pass only the EROFS cases (run by the second) and LINK_MAX.
unexpected=$(grep -E '^\S+\s+skipped$' "$work/all.log" | awk '{print $1}' \
  | grep -v -E '(^|::)erofs_' | grep -v -x 'link::link_count_max' || true)
if [ -n "$unexpected" ]; then
  echo "unexpected skips:"; echo "$unexpected"; status=1
fi
if grep -qE '\s+skipped$' "$work/erofs.log"; then
  echo "EROFS cases were skipped in the second pass:"; grep -E '\s+skipped$' -A2 "$work/erofs.log"; status=1
fi

section "pjdfstest: unmount and fsck"
kill -TERM "$mount_pid"
wait "$mount_pid" || { echo "vexfs mount exited with $?"; cat "$work/mount.log"; status=1; }
mount_pid=""
"$vexfs" fsck "$work/image" || status=1

passed=$(( $(sed -n 's/^Summary: .* \([0-9]*\) passed.*/\1/p' "$work/all.log" "$work/erofs.log" | paste -sd+) ))
echo "pjdfstest: $passed cases passed; expected failures listed: $(printf '%s\n' $expected | grep -c . || true)"
[ "$status" = 0 ] && echo "pjdfstest: all cases passed" || echo "pjdfstest: FAILED"
exit "$status"
