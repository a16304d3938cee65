//! `vexfs mkfs`, `fsck` and `stats` on image files (no mount needed): creation and refusal to
//! overwrite, fsck's exit codes 0 (clean), 1 (damaged but openable) and 2 (unusable), and the
//! stats document of an image.

#![allow(clippy::unwrap_used)]

mod common;

use common::{fails, ok, vexfs};
use std::ffi::OsStr;
use std::path::Path;

fn arg(p: &Path) -> &OsStr {
    p.as_os_str()
}

#[test]
fn mkfs_creates_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("img");
    let out = ok([OsStr::new("mkfs"), arg(&image)]);
    assert_eq!(out, format!("created {}\n", image.display()));
    let e = fails([OsStr::new("mkfs"), arg(&image)]);
    assert!(e.contains("exists and is not empty"), "{e}");
    ok([OsStr::new("mkfs"), arg(&image), OsStr::new("--force")]);
    let e = fails([OsStr::new("mkfs"), arg(dir.path())]);
    assert!(e.ends_with("is a directory"), "{e}");
    let e = fails([OsStr::new("mkfs"), arg(&dir.path().join("no/such/dir/img"))]);
    assert!(e.contains("No such file or directory"), "{e}");
}

/// An image with one file of recognisable content, closed cleanly.
fn image_with_data(path: &Path) -> Vec<u8> {
    let mut fs = vexfs::Vexfs::create(path).unwrap();
    fs.create_dir("/d").unwrap();
    fs.create_collection("/d", &vexfs::IndexConfig::new(2, vexfs::vector::ElemType::F32))
        .unwrap();
    fs.write("/d/a", b"0123456789abcdef".repeat(4096)).unwrap();
    fs.set_vector("/d/a", &[1.0, 2.0]).unwrap();
    fs.close().unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn fsck_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("img");
    let bytes = image_with_data(&image);

    // Clean: 0.
    let out = vexfs([OsStr::new("fsck"), arg(&image)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.trim_end().ends_with(": clean"), "{text}");
    assert!(text.contains("1 collections, 1 vectors"), "{text}");

    // A damaged file data block: the image opens, fsck names the problem and exits 1.
    let pattern = b"0123456789abcdef".repeat(256);
    let blocks: Vec<usize> = (0..bytes.len() / 4096)
        .filter(|b| bytes[b * 4096..(b + 1) * 4096] == pattern[..])
        .collect();
    assert!(!blocks.is_empty(), "no data block found in the image");
    let mut damaged = bytes.clone();
    for b in &blocks {
        damaged[b * 4096 + 100] ^= 0x40;
    }
    let bad = dir.path().join("damaged");
    std::fs::write(&bad, &damaged).unwrap();
    let out = vexfs([OsStr::new("fsck"), arg(&bad)]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.lines().any(|l| l.starts_with("problem: ")), "{text}");
    assert!(text.trim_end().ends_with(": problems found"), "{text}");

    // Garbage, an empty file and a missing file are unusable: 2, with one error line.
    let garbage = dir.path().join("garbage");
    let noise: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, noise).unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    for p in [garbage, empty, dir.path().join("missing")] {
        let out = vexfs([OsStr::new("fsck"), arg(&p)]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{}: {err}", p.display());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("vexfs: "), "{err}");
    }
    // fsck changed nothing.
    assert_eq!(std::fs::read(&image).unwrap(), bytes);
}

#[test]
fn stats_of_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("img");
    image_with_data(&image);
    let out = ok([OsStr::new("stats"), arg(&image)]);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["files"], 1);
    assert_eq!(doc["collections"][0]["path"], "/d");
    assert_eq!(doc["collections"][0]["vectors"], 1);
    let e = fails([OsStr::new("stats"), arg(&dir.path().join("missing"))]);
    assert!(e.contains("No such file"), "{e}");
}
