//! The medium under the image, through a real mount (issue 14, items 4 and 5).
//!
//! A full medium, on a small tmpfs holding the image: the write that does not fit fails with
//! `ENOSPC` (never `EROFS` for the rest of the session), deleting, truncating and removing
//! attributes still work and make room for new writes in the same session, `statfs` shows the
//! room gone, and unmounting checkpoints and loses nothing (fsck clean after a remount).
//!
//! A damaged block of the live checkpoint: the mount recovers through the previous checkpoint,
//! warns, and serves everything.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Mounted, fuse_or_skip, ok};
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::Command;

const ENOSPC: i32 = 28;
const FILE_BYTES: usize = 1 << 20;

fn content(i: usize) -> Vec<u8> {
    (0..FILE_BYTES).map(|j| (j * 7 + i * 13) as u8).collect()
}

/// Available bytes of the file system at `path`, as `statfs(2)` reports them.
fn available(path: &Path) -> u64 {
    let out = Command::new("stat")
        .args(["-f", "-c", "%a %S"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut it = text.split_whitespace().map(|x| x.parse::<u64>().unwrap());
    it.next().unwrap() * it.next().unwrap()
}

/// Writes `dir/fN` files of 1 MiB from `from` until the medium refuses one with `ENOSPC`;
/// returns the numbers written whole. A file the refusal cut short is removed.
fn fill(dir: &Path, from: usize) -> Vec<usize> {
    let mut whole = Vec::new();
    for i in from..from + 1000 {
        let path = dir.join(format!("f{i}"));
        let r = std::fs::File::create(&path).and_then(|mut f| {
            f.write_all(&content(i))?;
            f.sync_all()
        });
        match r {
            Ok(()) => whole.push(i),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(ENOSPC), "f{i}: {e}");
                let _ = std::fs::remove_file(&path);
                return whole;
            }
        }
    }
    panic!("the medium never filled");
}

struct Tmpfs(tempfile::TempDir);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_medium_gives_enospc_and_deleting_makes_room() {
    if !fuse_or_skip("a_full_medium_gives_enospc_and_deleting_makes_room") {
        return;
    }
    let medium = Tmpfs(tempfile::Builder::new().prefix("vexfs-tmpfs").tempdir().unwrap());
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(medium.0.path())
        .status()
        .unwrap();
    assert!(st.success(), "mounting a tmpfs needs root (CI runs as root)");
    let image = medium.0.path().join("image");
    ok([OsStr::new("mkfs"), image.as_os_str()]);
    let mnt = tempfile::Builder::new()
        .prefix("vexfs-full-mnt")
        .tempdir()
        .unwrap();
    let m = Mounted::start_with(&image, mnt.path(), &["-o", "commit=0"]);
    let dir = m.p("d");
    std::fs::create_dir(&dir).unwrap();
    let note = m.p("note");
    std::fs::write(&note, b"kept").unwrap();
    xattr::set(&note, "user.big", &[1u8; 30_000]).unwrap();
    let empty_room = available(&m.root);
    let mut files = fill(&dir, 0);
    assert!(
        files.len() >= 8,
        "only {} files of 1 MiB fit in 24 MiB",
        files.len()
    );
    let full_room = available(&m.root);
    assert!(
        full_room < 2 * FILE_BYTES as u64,
        "statfs says {full_room} bytes are available on a full image (empty: {empty_room})"
    );
    // Everything that frees space still works, and the image is still writable afterwards.
    xattr::remove(&note, "user.big").unwrap();
    let half = files.len() / 2;
    for i in files.drain(..half) {
        std::fs::remove_file(dir.join(format!("f{i}"))).unwrap();
    }
    let t = files.remove(0);
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(format!("f{t}")))
        .unwrap()
        .set_len(4096)
        .unwrap();
    std::fs::create_dir(m.p("sub")).unwrap();
    std::fs::remove_dir(m.p("sub")).unwrap();
    let more = fill(&dir, 1000);
    assert!(
        !more.is_empty(),
        "deleting freed no room for new writes (statfs: {} bytes)",
        available(&m.root)
    );
    files.extend(more);
    m.unmount();
    // Nothing durable was lost: the checkpoint at unmount fit, and everything reads back.
    let out = common::vexfs([OsStr::new("fsck"), image.as_os_str()]);
    assert!(
        out.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let m = Mounted::start(&image, mnt.path());
    for &i in &files {
        let got = std::fs::read(m.p(&format!("d/f{i}"))).unwrap();
        assert!(got == content(i), "f{i} differs after remount");
    }
    assert_eq!(std::fs::metadata(m.p(&format!("d/f{t}"))).unwrap().len(), 4096);
    assert_eq!(std::fs::read(m.p("note")).unwrap(), b"kept");
    m.unmount();
}

/// One damaged block of the live checkpoint (issue 14, item 5) through a real mount: the mount
/// recovers through the previous checkpoint, says so on standard error, serves every file, and
/// leaves an image fsck calls clean; fsck of the damaged image reports it (exit 1).
#[test]
fn a_damaged_checkpoint_mounts_through_the_previous_one() {
    if !fuse_or_skip("a_damaged_checkpoint_mounts_through_the_previous_one") {
        return;
    }
    let scratch = common::Scratch::new();
    let m = scratch.mount();
    std::fs::write(m.p("a"), b"first session").unwrap();
    m.unmount();
    let m = scratch.mount();
    std::fs::write(m.p("b"), content(2)).unwrap();
    xattr::set(m.p("b"), "user.tag", b"two").unwrap();
    m.unmount();
    // The live checkpoint's first block, from the image's own extents.
    let ckpt = {
        let storage = vexfs_core::storage::FileStorage::open(&scratch.image, false, false).unwrap();
        let e = vexfs_core::Engine::open_image(
            std::sync::Arc::new(storage),
            vexfs_core::journal::OpenOptions::read_only(),
        )
        .unwrap();
        e.image_extents()
            .into_iter()
            .find(|x| x.kind == vexfs_core::journal::ExtentKind::Checkpoint)
            .unwrap()
            .first_block
    };
    let mut bytes = std::fs::read(&scratch.image).unwrap();
    bytes[ckpt as usize * 4096 + 60] ^= 0x08;
    std::fs::write(&scratch.image, &bytes).unwrap();
    let out = common::vexfs([OsStr::new("fsck"), scratch.image.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "fsck of the damaged image: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("recovered from the previous one"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = scratch.path("mount.log");
    let m = Mounted::start_logged(
        &scratch.image,
        &scratch.mountpoint,
        &[],
        std::fs::File::create(&log).unwrap().into(),
    );
    assert_eq!(std::fs::read(m.p("a")).unwrap(), b"first session");
    assert!(std::fs::read(m.p("b")).unwrap() == content(2));
    assert_eq!(xattr::get(m.p("b"), "user.tag").unwrap().unwrap(), b"two");
    m.unmount();
    let warned = std::fs::read_to_string(&log).unwrap();
    assert!(
        warned.contains("warning") && warned.contains("previous one"),
        "{warned}"
    );
    let out = common::vexfs([OsStr::new("fsck"), scratch.image.as_os_str()]);
    assert!(out.status.success(), "fsck after the mount recovered: {out:?}");
}
