//! Read-only mounts (issue 15): `vexfs mount -o ro` answers searches (`vexfs search` and raw
//! queries), several read-only mounts of one image search at the same time, a read-write mount
//! excludes read-only ones and the reverse, and every change on a read-only mount fails with
//! EROFS and changes nothing.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use vexfs::{IndexConfig, Vexfs, vector::ElemType};

const DIM: usize = 8;
const N: u64 = 200;

/// An image with `/docs`, a collection of `N` files with vectors, and `/docs/sub`, `/plain`.
fn build(image: &Path) {
    let mut fs = Vexfs::open(image).unwrap();
    fs.create_dir("/docs").unwrap();
    fs.create_collection("/docs", &IndexConfig::new(DIM as u32, ElemType::F32))
        .unwrap();
    for i in 0..N {
        let p = format!("/docs/f{i:03}");
        fs.write(&p, b"content").unwrap();
        fs.set_vector(&p, &pseudo_vector(i, DIM)).unwrap();
    }
    fs.create_dir("/docs/sub").unwrap();
    fs.create_dir("/plain").unwrap();
    fs.close().unwrap();
}

/// A fresh image filled by [`build`] in a child process ([`populated_in_child`]).
fn populated() -> Scratch {
    populated_in_child()
}

/// The child of [`populated`]: does nothing unless it is one.
#[test]
fn populate_child() {
    if let Some(image) = std::env::var_os("VEXFS_POPULATE") {
        build(Path::new(&image));
    }
}

/// One raw query on a fresh open of `root/.vexfs/search`: the result lines or the errno.
fn raw_search(root: &Path, query: &str) -> Result<Vec<String>, i32> {
    let mut f = File::options()
        .read(true)
        .write(true)
        .open(root.join(".vexfs/search"))
        .map_err(|e| e.raw_os_error().unwrap())?;
    f.write_all(query.as_bytes())
        .map_err(|e| e.raw_os_error().unwrap())?;
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    Ok(text.lines().map(str::to_owned).collect())
}

fn query_of(i: u64) -> String {
    let v: Vec<String> = pseudo_vector(i, DIM).iter().map(|x| x.to_string()).collect();
    format!(
        r#"{{"dir":"/docs","vector":[{}],"k":5,"exact":true}}"#,
        v.join(",")
    )
}

#[test]
fn a_read_only_mount_answers_searches() {
    if !fuse_or_skip("a_read_only_mount_answers_searches") {
        return;
    }
    let s = populated();
    let m = s.mount_with(&["-o", "ro"]);
    let lines = raw_search(&m.root, &query_of(7)).unwrap();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].contains("/docs/f007"), "{lines:?}");
    let out = ok([
        OsStr::new("search"),
        m.p("docs").as_os_str(),
        OsStr::new("--vector"),
        OsStr::new(
            &pseudo_vector(9, DIM)
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        OsStr::new("-k"),
        OsStr::new("3"),
    ]);
    let hits = parse_results(&out);
    assert_eq!(hits.len(), 3);
    assert!(hits[0].2.ends_with("docs/f009"), "{out}");
    // `like` too, and the stats say read-only.
    let like = ok([
        OsStr::new("search"),
        m.p("docs").as_os_str(),
        OsStr::new("--like"),
        m.p("docs/f011").as_os_str(),
        OsStr::new("-k"),
        OsStr::new("1"),
    ]);
    assert!(like.contains("docs/f011"), "{like}");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.p(".vexfs/stats")).unwrap()).unwrap();
    assert_eq!(stats["mount"]["read_only"], true);
    m.unmount();
}

#[test]
fn two_read_only_mounts_of_one_image_search_at_once() {
    if !fuse_or_skip("two_read_only_mounts_of_one_image_search_at_once") {
        return;
    }
    let s = populated();
    let second = s.path("mnt2");
    std::fs::create_dir(&second).unwrap();
    let a = s.mount_with(&["-o", "ro"]);
    let b = Mounted::start_with(&s.image, &second, &["-o", "ro"]);
    // A read-write mount is refused while they run.
    let third = s.path("mnt3");
    std::fs::create_dir(&third).unwrap();
    let rw = vexfs([OsStr::new("mount"), s.image.as_os_str(), third.as_os_str()]);
    assert!(!rw.status.success());
    assert!(String::from_utf8_lossy(&rw.stderr).contains("locked"), "{rw:?}");
    // Both answer, from several threads each, at the same time.
    let roots = [a.root.clone(), b.root.clone()];
    std::thread::scope(|sc| {
        for t in 0..4u64 {
            let root = roots[(t % 2) as usize].clone();
            sc.spawn(move || {
                for i in 0..50 {
                    let q = (t * 50 + i) % N;
                    let lines = raw_search(&root, &query_of(q)).unwrap();
                    assert_eq!(lines.len(), 5);
                    assert!(lines[0].contains(&format!("/docs/f{q:03}")), "{lines:?}");
                }
            });
        }
    });
    b.unmount();
    a.unmount();
}

#[test]
fn a_read_write_mount_excludes_read_only_ones() {
    if !fuse_or_skip("a_read_write_mount_excludes_read_only_ones") {
        return;
    }
    let s = populated();
    let m = s.mount();
    let other = s.path("mnt2");
    std::fs::create_dir(&other).unwrap();
    let ro = vexfs([
        OsStr::new("mount"),
        s.image.as_os_str(),
        other.as_os_str(),
        OsStr::new("-o"),
        OsStr::new("ro"),
    ]);
    assert!(!ro.status.success());
    assert!(String::from_utf8_lossy(&ro.stderr).contains("locked"), "{ro:?}");
    m.unmount();
}

/// The errno of a failed call.
fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    r.expect_err("expected EROFS").raw_os_error().unwrap()
}

fn cstr(p: &Path) -> std::ffi::CString {
    std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap()
}

#[test]
fn every_change_on_a_read_only_mount_fails_with_erofs() {
    if !fuse_or_skip("every_change_on_a_read_only_mount_fails_with_erofs") {
        return;
    }
    let s = populated();
    let before = std::fs::read(&s.image).unwrap();
    let m = s.mount_with(&["-o", "ro"]);
    let f = m.p("docs/f001");
    let d = m.p("docs/sub");
    let erofs = libc::EROFS;
    let opened = |o: &mut std::fs::OpenOptions| o.open(&f).map(drop);
    assert_eq!(errno_of(std::fs::write(m.p("new"), b"x")), erofs, "create");
    assert_eq!(
        errno_of(opened(File::options().write(true))),
        erofs,
        "open for writing"
    );
    assert_eq!(
        errno_of(opened(File::options().append(true))),
        erofs,
        "open for appending"
    );
    assert_eq!(
        errno_of(opened(File::options().read(true).write(true).truncate(true))),
        erofs,
        "open with O_TRUNC"
    );
    assert_eq!(errno_of(std::fs::create_dir(m.p("nd"))), erofs, "mkdir");
    assert_eq!(errno_of(std::fs::remove_file(&f)), erofs, "unlink");
    assert_eq!(errno_of(std::fs::remove_dir(&d)), erofs, "rmdir");
    assert_eq!(errno_of(std::fs::rename(&f, m.p("docs/g"))), erofs, "rename");
    assert_eq!(errno_of(std::fs::hard_link(&f, m.p("docs/h"))), erofs, "link");
    assert_eq!(
        errno_of(std::os::unix::fs::symlink("f001", m.p("docs/s"))),
        erofs,
        "symlink"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        errno_of(std::fs::set_permissions(
            &f,
            std::fs::Permissions::from_mode(0o600)
        )),
        erofs,
        "chmod"
    );
    assert_eq!(
        errno_of(std::os::unix::fs::chown(&f, Some(1), Some(1))),
        erofs,
        "chown"
    );
    let file = File::open(&f).unwrap();
    assert_eq!(
        errno_of(file.set_modified(std::time::SystemTime::UNIX_EPOCH)),
        erofs,
        "utimens"
    );
    // SAFETY: a valid C path.
    let r = unsafe { libc::truncate(cstr(&f).as_ptr(), 0) };
    assert_eq!(
        (r, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(erofs)),
        "truncate"
    );
    assert_eq!(errno_of(xattr::set(&f, "user.tag", b"x")), erofs, "setxattr");
    assert_eq!(
        errno_of(xattr::set(&f, "user.vexfs.vector", &[0u8; 4 * DIM])),
        erofs,
        "set a vector"
    );
    assert_eq!(
        errno_of(xattr::set(m.p("plain"), "user.vexfs.index", b"dim=2")),
        erofs,
        "create a collection"
    );
    assert_eq!(
        errno_of(xattr::remove(m.p("docs"), "user.vexfs.index")),
        erofs,
        "drop a collection"
    );
    assert_eq!(
        errno_of(xattr::remove(&f, "user.vexfs.vector")),
        erofs,
        "removexattr"
    );
    // SAFETY: a valid C path; mknod of a fifo.
    let r = unsafe { libc::mknod(cstr(&m.p("fifo")).as_ptr(), libc::S_IFIFO | 0o644, 0) };
    assert_eq!(
        (r, std::io::Error::last_os_error().raw_os_error()),
        (-1, Some(erofs)),
        "mknod"
    );
    let out = vexfs([
        OsStr::new("vector"),
        OsStr::new("set"),
        f.as_os_str(),
        OsStr::new("1,2,3,4,5,6,7,8"),
    ]);
    assert!(!out.status.success(), "vexfs vector set");
    // Reading and searching still work, and nothing changed.
    assert_eq!(std::fs::read(&f).unwrap(), b"content");
    assert_eq!(raw_search(&m.root, &query_of(3)).unwrap().len(), 5);
    drop(file);
    m.unmount();
    assert_eq!(std::fs::read(&s.image).unwrap(), before, "the image changed");
}
