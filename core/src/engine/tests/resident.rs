//! One resident copy (issue 17 item 1): an indexed vector is held by its index and the file's
//! `user.vexfs.vector` only names the collection; every transition keeps exactly one copy and
//! the bytes as stored. `check` verifies the form after each step (every reference resolves
//! with its length, no vector is inline while an index of its directories holds it).

use super::*;
use crate::journal::OpenOptions;
use crate::namespace::XattrValue;
use crate::storage::{MemStorage, Storage};
use std::sync::Arc;

/// The collection holding `ino`'s vector, `None` when it is inline; panics when it has none.
fn holder(e: &Engine, ino: Ino) -> Option<Ino> {
    e.state
        .ns
        .get(ino)
        .unwrap()
        .xattrs
        .get(VECTOR_XATTR)
        .expect("has a vector")
        .held_by()
}

/// Bytes of `ino`'s attributes held by the namespace itself.
fn own_bytes(e: &Engine, ino: Ino) -> usize {
    e.state.ns.get(ino).unwrap().xattrs.bytes()
}

/// Asserts the vector reads back as `want` through every reader: getxattr, a search's
/// `include` (both forms) when `dir` indexes it, and the engine's invariants.
fn assert_vector(e: &Engine, ino: Ino, want: &[u8]) {
    assert_eq!(e.getxattr(ino, VECTOR_XATTR).unwrap(), want);
    check(e).unwrap();
}

fn dirs(e: &mut Engine, cfgs: &[(&[u8], &[u8])]) -> Vec<Ino> {
    cfgs.iter()
        .map(|&(name, cfg)| {
            let d = e.mkdir(ROOT_INO, name, 0o755, &at(1)).unwrap().ino;
            if !cfg.is_empty() {
                e.setxattr(d, INDEX_XATTR, cfg, XattrMode::Any, &at(1)).unwrap();
            }
            d
        })
        .collect()
}

#[test]
fn set_replace_remove_keep_one_copy() {
    let mut e = engine();
    let d = dirs(&mut e, &[(b"c", b"dim=2")])[0];
    let f = e.create(d, b"f", 0o644, &at(2)).unwrap().ino;
    let name_bytes = own_bytes(&e, f);
    let v = f32s(&[1.0, 2.0]);
    e.setxattr(f, VECTOR_XATTR, &v, XattrMode::Any, &at(2)).unwrap();
    assert_eq!(holder(&e, f), Some(d));
    assert_eq!(
        own_bytes(&e, f),
        name_bytes + VECTOR_XATTR.len(),
        "the bytes are the index's"
    );
    assert_eq!(
        e.state.ns.get(f).unwrap().xattrs.get(VECTOR_XATTR),
        Some(XattrValue::Held { dir: d, len: 8 })
    );
    assert_vector(&e, f, &v);
    let mut names = Vec::new();
    e.listxattr(f, &mut names).unwrap();
    assert_eq!(names, b"user.vexfs.vector\0");
    // Replaced: held, new bytes; the same bytes again: unchanged.
    let w = f32s(&[3.0, -4.0]);
    e.setxattr(f, VECTOR_XATTR, &w, XattrMode::Replace, &at(3))
        .unwrap();
    assert_eq!(holder(&e, f), Some(d));
    assert_vector(&e, f, &w);
    e.setxattr(f, VECTOR_XATTR, &w, XattrMode::Replace, &at(3))
        .unwrap();
    assert_eq!(holder(&e, f), Some(d));
    assert_vector(&e, f, &w);
    // A failed set (wrong length) changes nothing.
    let before = digest(&e);
    let r = e.setxattr(f, VECTOR_XATTR, &f32s(&[1.0]), XattrMode::Any, &at(4));
    assert_unchanged(
        &e,
        before,
        r,
        Error::Invalid("vector length does not match the collection's dim and type"),
    );
    assert_vector(&e, f, &w);
    e.removexattr(f, VECTOR_XATTR, &at(5)).unwrap();
    assert!(e.getxattr(f, VECTOR_XATTR).is_err());
    assert!(e.collections().get(d).unwrap().index.is_empty());
    check(&e).unwrap();
}

#[test]
fn rename_into_out_of_and_across_collections() {
    let mut e = engine();
    let ds = dirs(
        &mut e,
        &[
            (b"a", b"dim=2"),
            (b"b", b"dim=2 metric=l1"),
            (b"p", b""),
            (b"n", b"dim=3"),
        ],
    );
    let (a, b, plain, narrow) = (ds[0], ds[1], ds[2], ds[3]);
    let f = e.create(plain, b"f", 0o644, &at(2)).unwrap().ino;
    let v = f32s(&[0.5, 0.25]);
    e.setxattr(f, VECTOR_XATTR, &v, XattrMode::Any, &at(2)).unwrap();
    assert_eq!(holder(&e, f), None, "in no collection: inline");
    assert_vector(&e, f, &v);
    e.rename(plain, b"f", a, b"f", RenameMode::NoReplace, &at(3))
        .unwrap();
    assert_eq!(holder(&e, f), Some(a));
    assert_vector(&e, f, &v);
    e.rename(a, b"f", b, b"g", RenameMode::NoReplace, &at(4)).unwrap();
    assert_eq!(holder(&e, f), Some(b));
    assert!(e.collections().get(a).unwrap().index.is_empty());
    assert_vector(&e, f, &v);
    // Into a collection it does not fit: unindexed there, inline.
    e.rename(b, b"g", narrow, b"g", RenameMode::NoReplace, &at(5))
        .unwrap();
    assert_eq!(holder(&e, f), None);
    assert_vector(&e, f, &v);
    e.rename(narrow, b"g", plain, b"f", RenameMode::NoReplace, &at(6))
        .unwrap();
    assert_eq!(holder(&e, f), None);
    assert_vector(&e, f, &v);
    // Over an indexed file: the replaced one (kept open) leaves with its bytes inline.
    e.rename(plain, b"f", a, b"f", RenameMode::NoReplace, &at(7))
        .unwrap();
    let g = e.create(b, b"g", 0o644, &at(7)).unwrap().ino;
    let w = f32s(&[7.0, 8.0]);
    e.setxattr(g, VECTOR_XATTR, &w, XattrMode::Any, &at(7)).unwrap();
    e.pin(f, 1);
    e.rename(b, b"g", a, b"f", RenameMode::Replace, &at(8)).unwrap();
    assert_eq!((holder(&e, f), holder(&e, g)), (None, Some(a)));
    assert_vector(&e, f, &v);
    assert_vector(&e, g, &w);
    e.unpin(f, 1, &at(9)).unwrap();
    // Exchange across collections.
    let h = e.create(b, b"h", 0o644, &at(10)).unwrap().ino;
    e.setxattr(h, VECTOR_XATTR, &v, XattrMode::Any, &at(10)).unwrap();
    e.rename(a, b"f", b, b"h", RenameMode::Exchange, &at(11)).unwrap();
    assert_eq!((holder(&e, g), holder(&e, h)), (Some(b), Some(a)));
    assert_vector(&e, g, &w);
    assert_vector(&e, h, &v);
    // Rename within the collection.
    e.rename(a, b"f", a, b"f2", RenameMode::NoReplace, &at(12))
        .unwrap();
    assert_eq!(holder(&e, h), Some(a));
    assert_vector(&e, h, &v);
}

#[test]
fn hard_links_across_collections_and_dropping_the_holder() {
    let mut e = engine();
    let ds = dirs(
        &mut e,
        &[(b"a", b"dim=2"), (b"b", b"dim=2 metric=dot"), (b"n", b"dim=4")],
    );
    let (a, b, narrow) = (ds[0], ds[1], ds[2]);
    let f = e.create(b, b"f", 0o644, &at(2)).unwrap().ino;
    let v = f32s(&[1.5, -2.5]);
    e.setxattr(f, VECTOR_XATTR, &v, XattrMode::Any, &at(2)).unwrap();
    assert_eq!(holder(&e, f), Some(b));
    // Linked into a collection of a smaller inode number: it holds it now (both index it).
    e.link(f, a, b"f", &at(3)).unwrap();
    assert_eq!(holder(&e, f), Some(a));
    assert!(e.collections().get(b).unwrap().index.contains(f));
    // And into one it does not fit: unindexed there.
    e.link(f, narrow, b"f", &at(3)).unwrap();
    assert_eq!(holder(&e, f), Some(a));
    assert_vector(&e, f, &v);
    // Dropping the holding collection: the other one holds it.
    e.removexattr(a, INDEX_XATTR, &at(4)).unwrap();
    assert_eq!(holder(&e, f), Some(b));
    assert_vector(&e, f, &v);
    // Making it a collection again picks the file up, and holds it again.
    e.setxattr(a, INDEX_XATTR, b"dim=2", XattrMode::Any, &at(5))
        .unwrap();
    assert_eq!(holder(&e, f), Some(a));
    assert_vector(&e, f, &v);
    // Unlinked from the holder: the other collection holds it.
    e.unlink(a, b"f", &at(6)).unwrap();
    assert_eq!(holder(&e, f), Some(b));
    assert_vector(&e, f, &v);
    // The last holder dropped: inline again, exactly the bytes.
    e.removexattr(b, INDEX_XATTR, &at(7)).unwrap();
    assert_eq!(holder(&e, f), None);
    assert_vector(&e, f, &v);
    // A vector fitting only the narrow collection: held there, unindexed in `b`.
    e.setxattr(b, INDEX_XATTR, b"dim=2", XattrMode::Any, &at(8))
        .unwrap();
    assert_eq!(holder(&e, f), Some(b));
    let w = f32s(&[1.0, 2.0, 3.0, 4.0]);
    e.setxattr(f, VECTOR_XATTR, &w, XattrMode::Any, &at(9)).unwrap();
    assert_eq!(holder(&e, f), Some(narrow));
    assert!(!e.collections().get(b).unwrap().index.contains(f));
    assert_vector(&e, f, &w);
    // Unlinked from every collection while open: inline, readable, then released.
    e.pin(f, 1);
    e.unlink(narrow, b"f", &at(10)).unwrap();
    e.unlink(b, b"f", &at(10)).unwrap();
    assert_eq!(holder(&e, f), None);
    assert_vector(&e, f, &w);
    e.unpin(f, 1, &at(11)).unwrap();
    check(&e).unwrap();
}

#[test]
fn rebuild_compaction_and_search_includes_read_the_held_bytes() {
    let mut e = engine();
    let d = dirs(&mut e, &[(b"c", b"dim=4 metric=cosine m=4 ef_construction=16")])[0];
    let mut files = Vec::new();
    for i in 0..400u32 {
        let f = e
            .create(d, format!("f{i:03}").as_bytes(), 0o644, &at(2))
            .unwrap()
            .ino;
        let x = i as f32;
        let v = f32s(&[1.0 + x, (x * 0.37).sin(), (x * 0.11).cos(), 0.5]);
        e.setxattr(f, VECTOR_XATTR, &v, XattrMode::Any, &at(2)).unwrap();
        files.push((f, v));
    }
    // Removing most of them compacts the graph (nodes move; references are by label).
    for (i, (f, _)) in files.iter().enumerate() {
        if i % 4 != 0 {
            e.removexattr(*f, VECTOR_XATTR, &at(3)).unwrap();
        }
    }
    let index = &e.collections().get(d).unwrap().index;
    assert!(index.node_count() < 400, "the removals compacted the graph");
    files = files.into_iter().step_by(4).collect();
    for (f, v) in &files {
        assert_eq!(holder(&e, *f), Some(d));
        assert_eq!(e.getxattr(*f, VECTOR_XATTR).unwrap(), &v[..]);
    }
    check(&e).unwrap();
    e.rebuild_indexes(|_, _| {}).unwrap();
    for (f, v) in &files {
        assert_eq!(holder(&e, *f), Some(d));
        assert_eq!(e.getxattr(*f, VECTOR_XATTR).unwrap(), &v[..]);
    }
    check(&e).unwrap();
    // include=vector_b64 of a search, and `like`, read the index's bytes.
    let (f, v) = &files[7];
    let mut q = query("/c", &[0.0; 4], 1);
    q.target = Target::Bytes(v.clone());
    q.include.vector_b64 = true;
    let mut s = Scratch::new();
    let mut hits = Vec::new();
    let dir = e.search(&q, &Creds::ROOT, &mut s, &mut hits).unwrap();
    assert_eq!(hits[0].ino, *f);
    let mut out = Vec::new();
    let lines = HitLines {
        include: &q.include,
        query: None,
        limit: usize::MAX,
    };
    e.write_hits_json(dir, &hits, &lines, &mut s, &mut out).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(v);
    assert!(String::from_utf8(out).unwrap().contains(&b64));
    q.target = Target::Like(format!("/c/f{:03}", 7 * 4));
    e.search(&q, &Creds::ROOT, &mut s, &mut hits).unwrap();
    assert_eq!(hits[0].ino, *f);
}

#[test]
fn checkpoint_and_replay_keep_the_reference() {
    let s: Arc<dyn Storage> = Arc::new(MemStorage::new());
    let mut e = Engine::create_image(s.clone(), EngineConfig::default()).unwrap();
    let ds = dirs(&mut e, &[(b"a", b"dim=2"), (b"b", b"dim=2"), (b"p", b"")]);
    let (a, b, plain) = (ds[0], ds[1], ds[2]);
    let f = e.create(b, b"f", 0o644, &at(2)).unwrap().ino;
    let g = e.create(plain, b"g", 0o644, &at(2)).unwrap().ino;
    let (v, w) = (f32s(&[1.0, 2.0]), f32s(&[3.0, 4.0]));
    e.setxattr(f, VECTOR_XATTR, &v, XattrMode::Any, &at(2)).unwrap();
    e.setxattr(g, VECTOR_XATTR, &w, XattrMode::Any, &at(2)).unwrap();
    e.link(f, a, b"f", &at(3)).unwrap();
    let want = crate::check::state_digest(&e);
    e.close().unwrap();
    // From the checkpoint: references kept, not copies.
    let mut e = Engine::open_image(s.clone(), OpenOptions::default()).unwrap();
    assert_eq!((holder(&e, f), holder(&e, g)), (Some(a), None));
    assert_vector(&e, f, &v);
    assert_vector(&e, g, &w);
    assert_eq!(crate::check::state_digest(&e), want);
    // From the log: the same operations give the same form.
    e.removexattr(a, INDEX_XATTR, &at(4)).unwrap();
    e.rename(plain, b"g", b, b"g", RenameMode::NoReplace, &at(5))
        .unwrap();
    e.sync().unwrap();
    let want = crate::check::state_digest(&e);
    let held = (holder(&e, f), holder(&e, g));
    assert_eq!(held, (Some(b), Some(b)));
    drop(e);
    let e = Engine::open_image(s, OpenOptions::default()).unwrap();
    assert_eq!((holder(&e, f), holder(&e, g)), held);
    assert_vector(&e, f, &v);
    assert_vector(&e, g, &w);
    assert_eq!(crate::check::state_digest(&e), want);
}

#[test]
fn check_reports_a_reference_that_does_not_resolve() {
    let mut e = engine();
    let ds = dirs(&mut e, &[(b"a", b"dim=2"), (b"p", b"")]);
    let f = e.create(ds[0], b"f", 0o644, &at(2)).unwrap().ino;
    let g = e.create(ds[1], b"g", 0o644, &at(2)).unwrap().ino;
    e.setxattr(f, VECTOR_XATTR, &f32s(&[1.0, 2.0]), XattrMode::Any, &at(2))
        .unwrap();
    e.setxattr(g, VECTOR_XATTR, &f32s(&[1.0, 2.0]), XattrMode::Any, &at(2))
        .unwrap();
    check(&e).unwrap();
    // Wrong length, wrong collection, a file without a name there, an inline copy of what an
    // index holds.
    let node = e.state.ns.get_mut(f).unwrap();
    node.xattrs.set_held(VECTOR_XATTR, ds[0], 4);
    let p = check(&e).unwrap_err().to_string();
    assert!(p.contains("recorded as 4"), "{p}");
    assert!(matches!(
        e.getxattr(f, VECTOR_XATTR),
        Err(Error::Corrupted { .. })
    ));
    e.state
        .ns
        .get_mut(f)
        .unwrap()
        .xattrs
        .set_held(VECTOR_XATTR, ds[1], 8);
    let p = check(&e).unwrap_err().to_string();
    assert!(p.contains("not a collection"), "{p}");
    e.state
        .ns
        .get_mut(f)
        .unwrap()
        .xattrs
        .set(VECTOR_XATTR, &f32s(&[1.0, 2.0]));
    let p = check(&e).unwrap_err().to_string();
    assert!(p.contains("one-copy form"), "{p}");
    e.state
        .ns
        .get_mut(f)
        .unwrap()
        .xattrs
        .set_held(VECTOR_XATTR, ds[0], 8);
    check(&e).unwrap();
    e.state
        .ns
        .get_mut(g)
        .unwrap()
        .xattrs
        .set_held(VECTOR_XATTR, ds[0], 8);
    let p = check(&e).unwrap_err().to_string();
    assert!(p.contains("where it has no name"), "{p}");
}
