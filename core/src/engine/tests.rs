//! Engine unit tests: POSIX semantics of each operation and the error paths of SPEC §7 (each
//! asserting that nothing changed); collection membership and search are in `tests/collections.rs`.

use super::*;
use crate::check::check;
use crate::collections::{INDEX_XATTR, VECTOR_XATTR};
use crate::namespace::Creds;
use crate::query::{Query, Target};
use crate::types::{ROOT_INO, S_ISGID, S_ISUID, SetTime};
use std::hash::{DefaultHasher, Hash, Hasher};

fn at(secs: i64) -> Ctx {
    Ctx::new(Timestamp::new(secs, 0), 1000, 1000)
}

fn engine() -> Engine {
    Engine::new(EngineConfig::default())
}

/// A digest of everything observable: namespace and every index's encoding.
fn digest(e: &Engine) -> u64 {
    let mut h = DefaultHasher::new();
    format!("{:?}", e.namespace()).hash(&mut h);
    for (dir, c) in e.collections().iter() {
        dir.hash(&mut h);
        c.config.to_string().hash(&mut h);
        let mut buf = Vec::new();
        c.index.encode(&mut buf);
        buf.hash(&mut h);
    }
    h.finish()
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn query(dir: &str, v: &[f64], k: u32) -> Query {
    Query {
        dir: dir.into(),
        target: Target::Values(v.to_vec()),
        k,
        ef: None,
        filter: None,
        exact: true,
        max_distance: None,
        include: Default::default(),
    }
}

fn names(e: &Engine, q: &Query) -> Vec<String> {
    let mut s = Scratch::new();
    let mut hits = Vec::new();
    let dir = e.search(q, &Creds::ROOT, &mut s, &mut hits).unwrap();
    let mut p = Vec::new();
    hits.iter()
        .map(|h| {
            e.hit_path(dir, h.ino, &mut p).unwrap();
            String::from_utf8(p.clone()).unwrap()
        })
        .collect()
}

/// Asserts `r` is the error `want` and that the engine did not change.
fn assert_unchanged<T: std::fmt::Debug>(e: &Engine, before: u64, r: Result<T>, want: Error) {
    assert_eq!(r.unwrap_err(), want);
    assert_eq!(digest(e), before, "a failed operation changed the state");
    check(e).unwrap();
}

#[test]
fn create_lookup_and_times() {
    let mut e = engine();
    let d = e.mkdir(ROOT_INO, b"d", 0o755, &at(10)).unwrap();
    assert_eq!(d.nlink, 2);
    assert_eq!(e.getattr(ROOT_INO).unwrap().nlink, 3);
    assert_eq!(e.getattr(ROOT_INO).unwrap().mtime.secs(), 10);
    let f = e.create(d.ino, b"f", 0o640, &at(20)).unwrap();
    assert_eq!((f.uid, f.gid, f.perm, f.nlink, f.size), (1000, 1000, 0o640, 1, 0));
    assert_eq!(e.getattr(d.ino).unwrap().mtime.secs(), 20);
    assert_eq!(e.lookup(d.ino, b"f").unwrap().ino, f.ino);
    assert_eq!(e.lookup(d.ino, b"g").unwrap_err(), Error::NotFound);
    assert_eq!(e.create(d.ino, b"f", 0o644, &at(21)).unwrap_err(), Error::Exists);
    e.write(f.ino, 0, b"hello", &at(30)).unwrap();
    let f2 = e.getattr(f.ino).unwrap();
    assert_eq!(
        (f2.size, f2.mtime.secs(), f2.ctime.secs(), f2.atime.secs()),
        (5, 30, 30, 20)
    );
    assert!(e.touch_atime(f.ino, &at(31)).unwrap());
    assert!(
        !e.touch_atime(f.ino, &at(32)).unwrap(),
        "relatime: atime newer than mtime stays"
    );
    assert_eq!(
        e.getattr(f.ino).unwrap().ctime.secs(),
        30,
        "atime update leaves ctime"
    );
    check(&e).unwrap();
}

#[test]
fn special_nodes_and_symlinks() {
    let mut e = engine();
    let c = e
        .mknod(ROOT_INO, b"tty", FileKind::CharDevice, 0o600, 0x0501, &at(1))
        .unwrap();
    assert_eq!((c.kind, c.rdev), (FileKind::CharDevice, 0x0501));
    let p = e
        .mknod(ROOT_INO, b"pipe", FileKind::Fifo, 0o600, 7, &at(1))
        .unwrap();
    assert_eq!(p.rdev, 0, "rdev only for devices");
    e.mknod(ROOT_INO, b"sock", FileKind::Socket, 0o600, 0, &at(1))
        .unwrap();
    e.mknod(ROOT_INO, b"blk", FileKind::BlockDevice, 0o600, 0x0801, &at(1))
        .unwrap();
    let s = e.symlink(ROOT_INO, b"ln", b"/tty", &at(2)).unwrap();
    assert_eq!((s.kind, s.size, s.perm), (FileKind::Symlink, 4, 0o777));
    assert_eq!(e.readlink(s.ino).unwrap(), b"/tty");
    assert_eq!(e.resolve(b"/ln", true).unwrap(), c.ino);
    assert_eq!(e.resolve(b"/ln", false).unwrap(), s.ino);
    assert_eq!(
        e.symlink(ROOT_INO, b"empty", b"", &at(2)).unwrap_err(),
        Error::NotFound
    );
    // user.* attributes only on regular files and directories, as Linux enforces.
    let r = e.setxattr(s.ino, b"user.a", b"1", XattrMode::Any, &at(3));
    assert_eq!(r.unwrap_err(), Error::NotPermitted);
    e.setxattr(s.ino, b"trusted.a", b"1", XattrMode::Any, &at(3))
        .unwrap();
    // Symlink loops end in ELOOP.
    e.symlink(ROOT_INO, b"a", b"/b", &at(4)).unwrap();
    e.symlink(ROOT_INO, b"b", b"/a", &at(4)).unwrap();
    assert_eq!(e.resolve(b"/a", true).unwrap_err(), Error::Loop);
    check(&e).unwrap();
}

#[test]
fn hard_links_share_one_inode() {
    let mut e = engine();
    let f = e.create(ROOT_INO, b"f", 0o644, &at(1)).unwrap();
    let d = e.mkdir(ROOT_INO, b"d", 0o755, &at(1)).unwrap();
    let l = e.link(f.ino, d.ino, b"g", &at(2)).unwrap();
    assert_eq!((l.ino, l.nlink, l.ctime.secs()), (f.ino, 2, 2));
    e.write(f.ino, 0, b"shared", &at(3)).unwrap();
    assert_eq!(e.lookup(d.ino, b"g").unwrap().size, 6);
    assert_eq!(
        e.link(d.ino, ROOT_INO, b"dlink", &at(3)).unwrap_err(),
        Error::NotPermitted
    );
    e.unlink(ROOT_INO, b"f", &at(4)).unwrap();
    assert_eq!(e.getattr(f.ino).unwrap().nlink, 1);
    e.unlink(d.ino, b"g", &at(5)).unwrap();
    assert_eq!(
        e.getattr(f.ino).unwrap_err(),
        Error::NotFound,
        "freed with its last name"
    );
    check(&e).unwrap();
}

#[test]
fn pinned_orphans_live_until_released() {
    let mut e = engine();
    let f = e.create(ROOT_INO, b"f", 0o644, &at(1)).unwrap();
    e.pin(f.ino, 1);
    e.unlink(ROOT_INO, b"f", &at(2)).unwrap();
    assert_eq!(e.getattr(f.ino).unwrap().nlink, 0);
    e.write(f.ino, 0, b"still writable", &at(3)).unwrap();
    assert_eq!(e.orphans().collect::<Vec<_>>(), vec![f.ino]);
    check(&e).unwrap();
    e.unpin(f.ino, 1, &at(4)).unwrap();
    assert_eq!(e.getattr(f.ino).unwrap_err(), Error::NotFound);
    assert_eq!(e.op_counts().find(|(k, _)| *k == OpKind::Release).unwrap().1, 1);
    check(&e).unwrap();
}

#[test]
fn rmdir_rules() {
    let mut e = engine();
    let d = e.mkdir(ROOT_INO, b"d", 0o755, &at(1)).unwrap();
    e.create(d.ino, b"f", 0o644, &at(1)).unwrap();
    assert_eq!(e.rmdir(ROOT_INO, b"d", &at(2)).unwrap_err(), Error::NotEmpty);
    assert_eq!(e.unlink(ROOT_INO, b"d", &at(2)).unwrap_err(), Error::IsDirectory);
    assert_eq!(e.rmdir(d.ino, b"f", &at(2)).unwrap_err(), Error::NotDirectory);
    e.unlink(d.ino, b"f", &at(2)).unwrap();
    e.pin(d.ino, 1);
    e.rmdir(ROOT_INO, b"d", &at(3)).unwrap();
    assert_eq!(e.getattr(ROOT_INO).unwrap().nlink, 2);
    assert_eq!(e.getattr(d.ino).unwrap().nlink, 0);
    assert_eq!(
        e.create(d.ino, b"x", 0o644, &at(4)).unwrap_err(),
        Error::NotFound,
        "no entries in a removed directory"
    );
    e.unpin(d.ino, 1, &at(5)).unwrap();
    check(&e).unwrap();
}

#[test]
fn rename_semantics() {
    let mut e = engine();
    let a = e.mkdir(ROOT_INO, b"a", 0o755, &at(1)).unwrap();
    let b = e.mkdir(ROOT_INO, b"b", 0o755, &at(1)).unwrap();
    let sub = e.mkdir(a.ino, b"sub", 0o755, &at(1)).unwrap();
    let f = e.create(a.ino, b"f", 0o644, &at(1)).unwrap();
    let g = e.create(b.ino, b"g", 0o644, &at(1)).unwrap();
    // Directory into itself or a descendant.
    assert_eq!(
        e.rename(ROOT_INO, b"a", sub.ino, b"x", RenameMode::Replace, &at(2))
            .unwrap_err(),
        Error::Invalid("cannot move a directory into itself")
    );
    assert!(
        e.rename(ROOT_INO, b"a", a.ino, b"x", RenameMode::Replace, &at(2))
            .is_err()
    );
    // File over file replaces and frees the target.
    e.rename(a.ino, b"f", b.ino, b"g", RenameMode::Replace, &at(3))
        .unwrap();
    assert_eq!(e.lookup(b.ino, b"g").unwrap().ino, f.ino);
    assert_eq!(e.getattr(g.ino).unwrap_err(), Error::NotFound);
    assert_eq!(e.getattr(f.ino).unwrap().ctime.secs(), 3);
    // Kind mismatches.
    assert_eq!(
        e.rename(a.ino, b"sub", b.ino, b"g", RenameMode::Replace, &at(4))
            .unwrap_err(),
        Error::NotDirectory
    );
    assert_eq!(
        e.rename(b.ino, b"g", a.ino, b"sub", RenameMode::Replace, &at(4))
            .unwrap_err(),
        Error::IsDirectory
    );
    // No-replace and exchange.
    e.create(a.ino, b"h", 0o644, &at(5)).unwrap();
    assert_eq!(
        e.rename(a.ino, b"h", b.ino, b"g", RenameMode::NoReplace, &at(5))
            .unwrap_err(),
        Error::Exists
    );
    assert_eq!(
        e.rename(a.ino, b"h", b.ino, b"zz", RenameMode::Exchange, &at(5))
            .unwrap_err(),
        Error::NotFound
    );
    e.rename(a.ino, b"sub", b.ino, b"g", RenameMode::Exchange, &at(6))
        .unwrap();
    assert_eq!(e.lookup(b.ino, b"g").unwrap().ino, sub.ino);
    assert_eq!(e.lookup(a.ino, b"sub").unwrap().ino, f.ino);
    assert_eq!(
        (e.getattr(a.ino).unwrap().nlink, e.getattr(b.ino).unwrap().nlink),
        (2, 3)
    );
    check(&e).unwrap();
    // Directory over an empty directory; then over a non-empty one.
    let empty = e.mkdir(a.ino, b"empty", 0o755, &at(7)).unwrap();
    e.rename(b.ino, b"g", a.ino, b"empty", RenameMode::Replace, &at(8))
        .unwrap();
    assert_eq!(e.getattr(empty.ino).unwrap_err(), Error::NotFound);
    e.create(sub.ino, b"inner", 0o644, &at(9)).unwrap();
    e.mkdir(b.ino, b"d2", 0o755, &at(9)).unwrap();
    assert_eq!(
        e.rename(b.ino, b"d2", a.ino, b"empty", RenameMode::Replace, &at(9))
            .unwrap_err(),
        Error::NotEmpty
    );
    // Same inode under both names: nothing happens.
    e.link(f.ino, a.ino, b"f2", &at(10)).unwrap();
    e.rename(a.ino, b"sub", a.ino, b"f2", RenameMode::Replace, &at(11))
        .unwrap();
    assert_eq!(e.getattr(f.ino).unwrap().nlink, 2);
    check(&e).unwrap();
}

#[test]
fn setattr_rules() {
    let mut e = engine();
    let f = e.create(ROOT_INO, b"f", 0o6755, &at(1)).unwrap();
    let set = |uid| SetAttr {
        uid: Some(uid),
        ..SetAttr::default()
    };
    let a = e.setattr(f.ino, set(5), &at(2)).unwrap();
    assert_eq!(
        (a.uid, a.perm, a.ctime.secs()),
        (5, 0o755, 2),
        "chown clears setuid and setgid+x"
    );
    e.setattr(
        f.ino,
        SetAttr {
            perm: Some(0o2745),
            ..SetAttr::default()
        },
        &at(3),
    )
    .unwrap();
    let a = e.setattr(f.ino, set(6), &at(4)).unwrap();
    assert_eq!(
        a.perm & (S_ISUID | S_ISGID),
        S_ISGID,
        "setgid without group-exec stays"
    );
    let a = e
        .setattr(
            f.ino,
            SetAttr {
                atime: Some(SetTime::At(Timestamp::new(7, 8))),
                mtime: Some(SetTime::Now),
                ..SetAttr::default()
            },
            &at(9),
        )
        .unwrap();
    assert_eq!(
        (a.atime, a.mtime.secs(), a.ctime.secs()),
        (Timestamp::new(7, 8), 9, 9)
    );
    e.write(f.ino, 0, &[1; 10_000], &at(10)).unwrap();
    let a = e
        .setattr(
            f.ino,
            SetAttr {
                size: Some(100),
                ..SetAttr::default()
            },
            &at(11),
        )
        .unwrap();
    assert_eq!((a.size, a.blocks, a.mtime.secs()), (100, 8, 11));
    let d = e.mkdir(ROOT_INO, b"d", 0o755, &at(12)).unwrap();
    let r = e.setattr(
        d.ino,
        SetAttr {
            size: Some(0),
            ..SetAttr::default()
        },
        &at(12),
    );
    assert_eq!(r.unwrap_err(), Error::IsDirectory);
    check(&e).unwrap();
}

#[test]
fn setgid_directories_pass_on_group() {
    let mut e = engine();
    let d = e
        .mkdir(ROOT_INO, b"d", 0o2775, &Ctx::new(Timestamp::new(1, 0), 1, 77))
        .unwrap();
    let f = e.create(d.ino, b"f", 0o644, &at(2)).unwrap();
    assert_eq!(f.gid, 77);
    let s = e.mkdir(d.ino, b"s", 0o755, &at(2)).unwrap();
    assert_eq!((s.gid, s.perm & S_ISGID), (77, S_ISGID));
}

#[test]
fn data_and_fallocate() {
    let mut e = engine();
    let f = e.create(ROOT_INO, b"f", 0o644, &at(1)).unwrap();
    e.fallocate(f.ino, 0, 8192, FallocMode::KeepSize, &at(2)).unwrap();
    assert_eq!(
        (e.getattr(f.ino).unwrap().size, e.getattr(f.ino).unwrap().blocks),
        (0, 16)
    );
    e.fallocate(f.ino, 0, 8192, FallocMode::Allocate, &at(3)).unwrap();
    assert_eq!(e.getattr(f.ino).unwrap().size, 8192);
    e.write(f.ino, 0, &[9; 8192], &at(4)).unwrap();
    e.fallocate(f.ino, 0, 4096, FallocMode::PunchHole, &at(5))
        .unwrap();
    let mut buf = [1u8; 8192];
    assert_eq!(e.read(f.ino, 0, &mut buf).unwrap(), 8192);
    assert!(buf[..4096].iter().all(|&b| b == 0) && buf[4096..].iter().all(|&b| b == 9));
    assert_eq!(e.lseek(f.ino, 0, Whence::Data).unwrap(), Some(4096));
    assert_eq!(e.lseek(f.ino, 0, Whence::Hole).unwrap(), Some(0));
    assert_eq!(
        e.fallocate(f.ino, 0, 0, FallocMode::Allocate, &at(6))
            .unwrap_err(),
        Error::Invalid("fallocate length must be positive")
    );
    assert_eq!(
        e.write(f.ino, crate::limits::FILE_SIZE_MAX, b"x", &at(6))
            .unwrap_err(),
        Error::FileTooBig
    );
    assert_eq!(e.read(ROOT_INO, 0, &mut buf).unwrap_err(), Error::IsDirectory);
    check(&e).unwrap();
}

#[test]
fn readdir_resumes_by_cookie() {
    let mut e = engine();
    for n in [b"c", b"a", b"b"] {
        e.create(ROOT_INO, n, 0o644, &at(1)).unwrap();
    }
    let mut all = Vec::new();
    e.readdir(ROOT_INO, 0, |d| {
        all.push((d.cookie, d.name.to_vec()));
        true
    })
    .unwrap();
    let listed: Vec<&[u8]> = all.iter().map(|(_, n)| &n[..]).collect();
    assert_eq!(listed, vec![&b"."[..], b"..", b"c", b"a", b"b"]);
    let mut rest = Vec::new();
    e.readdir(ROOT_INO, all[2].0, |d| {
        rest.push(d.name.to_vec());
        false
    })
    .unwrap();
    assert_eq!(rest, vec![b"a".to_vec()]);
}

#[test]
fn xattr_rules() {
    let mut e = engine();
    let f = e.create(ROOT_INO, b"f", 0o644, &at(1)).unwrap();
    e.setxattr(f.ino, b"user.k", b"v", XattrMode::Create, &at(2))
        .unwrap();
    assert_eq!(e.getattr(f.ino).unwrap().ctime.secs(), 2);
    let bin: Vec<u8> = (0..=255u8).cycle().take(65536).collect();
    e.setxattr(f.ino, b"user.bin", &bin, XattrMode::Any, &at(3))
        .unwrap();
    assert_eq!(e.getxattr(f.ino, b"user.bin").unwrap(), &bin[..]);
    let mut list = Vec::new();
    e.listxattr(f.ino, &mut list).unwrap();
    assert_eq!(list, b"user.bin\0user.k\0");
    e.removexattr(f.ino, b"user.k", &at(4)).unwrap();
    assert_eq!(e.getxattr(f.ino, b"user.k").unwrap_err(), Error::NoAttribute);
    assert_eq!(
        e.getxattr(f.ino, b"security.capability").unwrap_err(),
        Error::NoAttribute
    );
    let r = e.setxattr(f.ino, b"security.x", b"1", XattrMode::Any, &at(5));
    assert_eq!(r.unwrap_err(), Error::NotSupported);
    check(&e).unwrap();
}

/// Every error path of SPEC §7 (plus the xattr flags), each leaving the state unchanged.
#[test]
fn spec_limits_fail_cleanly() {
    let mut e = engine();
    let f = e.create(ROOT_INO, b"f", 0o644, &at(1)).unwrap();
    let d = e.mkdir(ROOT_INO, b"docs", 0o755, &at(1)).unwrap();
    e.setxattr(d.ino, INDEX_XATTR, b"dim=2", XattrMode::Any, &at(1))
        .unwrap();
    let v = e.create(d.ino, b"v", 0o644, &at(1)).unwrap();
    e.setxattr(v.ino, VECTOR_XATTR, &f32s(&[1.0, 2.0]), XattrMode::Any, &at(1))
        .unwrap();
    e.setxattr(f.ino, b"user.k", b"v", XattrMode::Any, &at(1))
        .unwrap();
    let before = digest(&e);
    let long = [b'n'; 256];
    assert_unchanged(
        &e,
        before,
        e.clone().create(ROOT_INO, &long, 0o644, &at(2)),
        Error::NameTooLong,
    );
    assert_unchanged(
        &e,
        before,
        e.clone().mkdir(ROOT_INO, &long, 0o755, &at(2)),
        Error::NameTooLong,
    );
    assert_unchanged(
        &e,
        before,
        e.clone()
            .rename(ROOT_INO, b"f", ROOT_INO, &long, RenameMode::Replace, &at(2)),
        Error::NameTooLong,
    );
    assert_unchanged(&e, before, e.lookup(ROOT_INO, &long), Error::NameTooLong);
    let big = vec![0u8; 64 * 1024 + 1];
    let mut c = e.clone();
    assert_unchanged(
        &c.clone(),
        before,
        c.setxattr(f.ino, b"user.big", &big, XattrMode::Any, &at(2)),
        Error::ValueTooBig,
    );
    let mut long_name = b"user.".to_vec();
    long_name.extend([b'x'; 251]);
    let mut c = e.clone();
    assert_unchanged(
        &e,
        before,
        c.setxattr(f.ino, &long_name, b"1", XattrMode::Any, &at(2)),
        Error::Range,
    );
    assert_unchanged(&e, before, e.getxattr(f.ino, &long_name), Error::Range);
    let mut c = e.clone();
    assert_unchanged(
        &e,
        before,
        c.setxattr(f.ino, b"user.k", b"2", XattrMode::Create, &at(2)),
        Error::Exists,
    );
    let mut c = e.clone();
    assert_unchanged(
        &e,
        before,
        c.setxattr(f.ino, b"user.z", b"2", XattrMode::Replace, &at(2)),
        Error::NoAttribute,
    );
    let mut c = e.clone();
    assert_unchanged(
        &e,
        before,
        c.removexattr(f.ino, b"user.z", &at(2)),
        Error::NoAttribute,
    );
    // Dimension limit: a collection past 4096 (bin 65536) is refused.
    let mut c = e.clone();
    let r = c.setxattr(ROOT_INO, INDEX_XATTR, b"dim=4097", XattrMode::Any, &at(2));
    assert_unchanged(
        &c,
        before,
        r,
        Error::Invalid("dim out of range (1..=4096, bin: 8..=65536)"),
    );
    // Wrong vector length, NaN, infinity.
    for bad in [f32s(&[1.0]), f32s(&[1.0, f32::NAN]), f32s(&[f32::INFINITY, 0.0])] {
        let mut c = e.clone();
        let r = c.setxattr(v.ino, VECTOR_XATTR, &bad, XattrMode::Any, &at(2));
        assert!(matches!(r, Err(Error::Invalid(_))));
        assert_eq!(digest(&c), before);
    }
    // Changing dim while vectors are indexed: EBUSY. ef_search may change.
    let mut c = e.clone();
    let r = c.setxattr(d.ino, INDEX_XATTR, b"dim=3", XattrMode::Any, &at(2));
    assert_unchanged(
        &c,
        before,
        r,
        Error::Busy("collection holds vectors; only ef_search may change"),
    );
    let mut c = e.clone();
    c.setxattr(d.ino, INDEX_XATTR, b"dim=2 ef_search=99", XattrMode::Any, &at(2))
        .unwrap();
    assert_eq!(
        c.getxattr(d.ino, INDEX_XATTR).unwrap(),
        b"dim=2 metric=l2 type=f32 m=16 ef_construction=200 ef_search=99"
    );
    // k and query size limits are the query parser's (tested there); the index config on a
    // file is refused.
    let mut c = e.clone();
    assert_unchanged(
        &c.clone(),
        before,
        c.setxattr(f.ino, INDEX_XATTR, b"dim=2", XattrMode::Any, &at(2)),
        Error::NotDirectory,
    );
}

mod collections;
mod resident;
