//! Engine tests of collections: membership after every operation, search targets, filters
//! and ties, determinism, and which vectors a file's collections accept.

use super::*;

#[test]
fn collection_membership_follows_every_operation() {
    let mut e = engine();
    let docs = e.mkdir(ROOT_INO, b"docs", 0o755, &at(1)).unwrap().ino;
    let other = e.mkdir(ROOT_INO, b"other", 0o755, &at(1)).unwrap().ino;
    let plain = e.mkdir(ROOT_INO, b"plain", 0o755, &at(1)).unwrap().ino;
    // A file with a vector before its directory becomes a collection is picked up.
    let a = e.create(docs, b"a", 0o644, &at(1)).unwrap().ino;
    e.setxattr(a, VECTOR_XATTR, &f32s(&[0.0, 0.0]), XattrMode::Any, &at(1))
        .unwrap();
    e.setxattr(docs, INDEX_XATTR, b"dim=2", XattrMode::Any, &at(2))
        .unwrap();
    e.setxattr(other, INDEX_XATTR, b"dim=3", XattrMode::Any, &at(2))
        .unwrap();
    assert_eq!(names(&e, &query("/docs", &[0.0, 0.0], 10)), vec!["/docs/a"]);
    let b = e.create(docs, b"b", 0o644, &at(3)).unwrap().ino;
    e.setxattr(b, VECTOR_XATTR, &f32s(&[1.0, 0.0]), XattrMode::Any, &at(3))
        .unwrap();
    assert_eq!(
        names(&e, &query("/docs", &[0.9, 0.0], 10)),
        vec!["/docs/b", "/docs/a"]
    );
    // Replace: the old position is gone.
    e.setxattr(b, VECTOR_XATTR, &f32s(&[5.0, 5.0]), XattrMode::Any, &at(4))
        .unwrap();
    assert_eq!(
        names(&e, &query("/docs", &[0.9, 0.0], 10)),
        vec!["/docs/a", "/docs/b"]
    );
    check(&e).unwrap();
    // Rename out to a plain directory: unindexed there, gone from docs.
    e.rename(docs, b"b", plain, b"b", RenameMode::Replace, &at(5))
        .unwrap();
    assert_eq!(names(&e, &query("/docs", &[0.0, 0.0], 10)), vec!["/docs/a"]);
    // Rename into a collection whose configuration the vector does not fit: unindexed.
    e.rename(plain, b"b", other, b"b", RenameMode::Replace, &at(6))
        .unwrap();
    assert_eq!(
        names(&e, &query("/other", &[0.0, 0.0, 0.0], 10)),
        Vec::<String>::new()
    );
    let s = e.stats(&Creds::ROOT);
    let other_stats = s.collections.iter().find(|c| c.path == "/other").unwrap();
    assert_eq!((other_stats.vectors, other_stats.unindexed), (0, 1));
    // Back into docs under a new name, over an existing file: the replaced file leaves.
    let c = e.create(docs, b"c", 0o644, &at(7)).unwrap().ino;
    e.setxattr(c, VECTOR_XATTR, &f32s(&[3.0, 3.0]), XattrMode::Any, &at(7))
        .unwrap();
    e.rename(other, b"b", docs, b"c", RenameMode::Replace, &at(8))
        .unwrap();
    assert_eq!(
        names(&e, &query("/docs", &[5.0, 5.0], 10)),
        vec!["/docs/c", "/docs/a"]
    );
    check(&e).unwrap();
    // Hard link into another collection of the same shape indexes it there too.
    let twin = e.mkdir(ROOT_INO, b"twin", 0o755, &at(9)).unwrap().ino;
    e.setxattr(twin, INDEX_XATTR, b"dim=2 metric=l1", XattrMode::Any, &at(9))
        .unwrap();
    e.link(a, twin, b"a-link", &at(9)).unwrap();
    assert_eq!(names(&e, &query("/twin", &[0.0, 0.0], 10)), vec!["/twin/a-link"]);
    // A vector that fits one collection but not the other is accepted, and unindexed in the
    // other (issue 18; `vector_fitting_one_of_a_files_collections_is_accepted`).
    e.link(a, other, b"a3", &at(10)).unwrap();
    e.setxattr(a, VECTOR_XATTR, &f32s(&[0.0, 0.0]), XattrMode::Any, &at(10))
        .unwrap();
    assert_eq!(
        names(&e, &query("/other", &[0.0, 0.0, 0.0], 10)),
        Vec::<String>::new()
    );
    let r = e.setxattr(a, VECTOR_XATTR, &f32s(&[1.0]), XattrMode::Any, &at(10));
    assert!(matches!(r, Err(Error::Invalid(_))));
    e.unlink(other, b"a3", &at(10)).unwrap();
    // Exchange across collections.
    let x = e.create(twin, b"x", 0o644, &at(11)).unwrap().ino;
    e.setxattr(x, VECTOR_XATTR, &f32s(&[9.0, 9.0]), XattrMode::Any, &at(11))
        .unwrap();
    e.rename(twin, b"x", docs, b"a", RenameMode::Exchange, &at(12))
        .unwrap();
    assert_eq!(names(&e, &query("/docs", &[9.0, 9.0], 1)), vec!["/docs/a"]);
    assert_eq!(e.lookup(docs, b"a").unwrap().ino, x);
    check(&e).unwrap();
    // Removing the vector, unlinking, removing the index.
    e.removexattr(x, VECTOR_XATTR, &at(13)).unwrap();
    assert_eq!(names(&e, &query("/docs", &[9.0, 9.0], 10)), vec!["/docs/c"]);
    e.unlink(docs, b"c", &at(14)).unwrap();
    assert_eq!(names(&e, &query("/docs", &[9.0, 9.0], 10)), Vec::<String>::new());
    e.removexattr(twin, INDEX_XATTR, &at(15)).unwrap();
    let mut s = Scratch::new();
    let r = e.search(
        &query("/twin", &[0.0, 0.0], 1),
        &Creds::ROOT,
        &mut s,
        &mut Vec::new(),
    );
    assert!(matches!(r, Err(Error::Query(_))));
    assert_eq!(
        e.getxattr(a, VECTOR_XATTR).unwrap(),
        &f32s(&[0.0, 0.0])[..],
        "files keep their vectors"
    );
    // Rmdir of an (empty) collection drops it.
    e.unlink(twin, b"a-link", &at(16)).unwrap();
    e.unlink(twin, b"x", &at(16)).unwrap();
    e.rmdir(ROOT_INO, b"twin", &at(16)).unwrap();
    e.rmdir(ROOT_INO, b"other", &at(16)).unwrap();
    assert_eq!(e.collections().len(), 1);
    check(&e).unwrap();
}

#[test]
fn search_query_targets_filters_and_ties() {
    let mut e = engine();
    let docs = e.mkdir(ROOT_INO, b"docs", 0o755, &at(1)).unwrap().ino;
    e.setxattr(docs, INDEX_XATTR, b"dim=2 type=i8", XattrMode::Any, &at(1))
        .unwrap();
    for (name, v, lang) in [
        (&b"b"[..], [1i8, 0], "en"),
        (b"a", [1, 0], "de"),
        (b"c", [3, 0], "en"),
    ] {
        let ino = e.create(docs, name, 0o644, &at(2)).unwrap().ino;
        e.setxattr(ino, VECTOR_XATTR, &v.map(|x| x as u8), XattrMode::Any, &at(2))
            .unwrap();
        e.setxattr(ino, b"user.lang", lang.as_bytes(), XattrMode::Any, &at(2))
            .unwrap();
    }
    // Ties broken by path.
    assert_eq!(
        names(&e, &query("/docs", &[1.0, 0.0], 2)),
        vec!["/docs/a", "/docs/b"]
    );
    let mut q = query("/docs", &[1.0, 0.0], 5);
    q.filter = Some(crate::query::Filter::parse("lang = en").unwrap());
    assert_eq!(names(&e, &q), vec!["/docs/b", "/docs/c"]);
    q.exact = false;
    assert_eq!(names(&e, &q), vec!["/docs/b", "/docs/c"]);
    q.target = Target::Like("/docs/c".into());
    q.filter = None;
    assert_eq!(names(&e, &q)[0], "/docs/c");
    q.target = Target::Bytes(vec![3, 0]);
    assert_eq!(names(&e, &q)[0], "/docs/c");
    let mut s = Scratch::new();
    q.target = Target::Values(vec![1.5, 0.0]);
    assert!(
        matches!(
            e.search(&q, &Creds::ROOT, &mut s, &mut Vec::new()),
            Err(Error::Invalid(_))
        ),
        "i8 needs integers"
    );
    q.target = Target::Bytes(vec![1]);
    assert!(matches!(
        e.search(&q, &Creds::ROOT, &mut s, &mut Vec::new()),
        Err(Error::Invalid(_))
    ));
    q.dir = "/missing".into();
    assert_eq!(
        e.search(&q, &Creds::ROOT, &mut s, &mut Vec::new()).unwrap_err(),
        Error::NotFound
    );
    let mut json = Vec::new();
    let mut hits = Vec::new();
    q.dir = "/docs".into();
    q.target = Target::Values(vec![3.0, 0.0]);
    q.k = 1;
    let dir = e.search(&q, &Creds::ROOT, &mut s, &mut hits).unwrap();
    assert!(
        e.write_hits_json(dir, &hits, &HitLines::plain(), &mut s, &mut json)
            .unwrap()
    );
    assert_eq!(
        String::from_utf8(json).unwrap(),
        "{\"path\":\"/docs/c\",\"distance\":0.0}\n"
    );
}

/// A collection `/docs` (dim 2, f32, l2) of `a` at (0,0), `b` at (1,0), `c` at (3,0), with
/// metadata on `a` and `b`.
fn radius_docs() -> Engine {
    let mut e = engine();
    let docs = e.mkdir(ROOT_INO, b"docs", 0o755, &at(1)).unwrap().ino;
    e.setxattr(docs, INDEX_XATTR, b"dim=2", XattrMode::Any, &at(1))
        .unwrap();
    for (name, x) in [(&b"a"[..], 0.0f32), (b"b", 1.0), (b"c", 3.0)] {
        let ino = e.create(docs, name, 0o644, &at(2)).unwrap().ino;
        e.setxattr(ino, VECTOR_XATTR, &f32s(&[x, 0.5]), XattrMode::Any, &at(2))
            .unwrap();
    }
    let a = e.lookup(docs, b"a").unwrap().ino;
    e.setxattr(a, b"user.lang", b"en", XattrMode::Any, &at(3))
        .unwrap();
    e.setxattr(a, b"user.raw", &[0xff, 0], XattrMode::Any, &at(3))
        .unwrap();
    e.write(a, 0, b"hello", &at(3)).unwrap();
    e.setattr(
        a,
        SetAttr {
            mtime: Some(SetTime::At(Timestamp::new(1_700_000_000, 250_000_000))),
            ..SetAttr::default()
        },
        &at(4),
    )
    .unwrap();
    let b = e.lookup(docs, b"b").unwrap().ino;
    e.setxattr(b, b"user.year", b"2020", XattrMode::Any, &at(3))
        .unwrap();
    e
}

#[test]
fn radius_search_keeps_hits_within_max_distance() {
    let e = radius_docs();
    for exact in [true, false] {
        let mut q = query("/docs", &[0.0, 0.5], 10);
        q.exact = exact;
        q.max_distance = Some(1.0);
        // Squared l2: a at 0, b at 1 (the bound is inclusive), c at 9.
        assert_eq!(names(&e, &q), vec!["/docs/a", "/docs/b"]);
        q.max_distance = Some(0.999);
        assert_eq!(names(&e, &q), vec!["/docs/a"]);
        q.max_distance = Some(0.0);
        assert_eq!(names(&e, &q), vec!["/docs/a"]);
        q.target = Target::Values(vec![10.0, 10.0]);
        assert!(names(&e, &q).is_empty(), "nothing within the radius");
        // At most k.
        q.target = Target::Values(vec![0.0, 0.5]);
        q.max_distance = Some(100.0);
        q.k = 2;
        assert_eq!(names(&e, &q), vec!["/docs/a", "/docs/b"]);
    }
    // A negative radius means nothing for l2: EINVAL, with a message naming the metric.
    let mut q = query("/docs", &[0.0, 0.5], 10);
    q.max_distance = Some(-1.0);
    let err = e
        .search(&q, &Creds::ROOT, &mut Scratch::new(), &mut Vec::new())
        .unwrap_err();
    assert!(matches!(&err, Error::Query(m) if m.contains("l2")), "{err}");
}

#[test]
fn radius_search_takes_negative_distances_for_dot() {
    let mut e = engine();
    let docs = e.mkdir(ROOT_INO, b"docs", 0o755, &at(1)).unwrap().ino;
    e.setxattr(docs, INDEX_XATTR, b"dim=2 metric=dot", XattrMode::Any, &at(1))
        .unwrap();
    for (name, x) in [(&b"a"[..], 1.0f32), (b"b", 2.0), (b"c", 3.0)] {
        let ino = e.create(docs, name, 0o644, &at(2)).unwrap().ino;
        e.setxattr(ino, VECTOR_XATTR, &f32s(&[x, 0.0]), XattrMode::Any, &at(2))
            .unwrap();
    }
    let mut q = query("/docs", &[1.0, 0.0], 10);
    // Distances are -1, -2, -3: inner product at least 2.
    q.max_distance = Some(-2.0);
    assert_eq!(names(&e, &q), vec!["/docs/c", "/docs/b"]);
}

fn hit_lines(e: &Engine, q: &Query, batch: Option<usize>, limit: usize) -> (bool, String) {
    let mut s = Scratch::new();
    let mut hits = Vec::new();
    let dir = e.search(q, &Creds::ROOT, &mut s, &mut hits).unwrap();
    let mut out = b"before\n".to_vec();
    let lines = HitLines {
        include: &q.include,
        query: batch,
        limit,
    };
    let done = e.write_hits_json(dir, &hits, &lines, &mut s, &mut out).unwrap();
    (done, String::from_utf8(out).unwrap())
}

#[test]
fn hits_carry_what_include_asks_for() {
    let e = radius_docs();
    let mut q = query("/docs", &[0.0, 0.5], 2);
    q.include = crate::query::Include::parse(["metadata", "vector", "vector_b64", "size", "mtime"]).unwrap();
    let (done, text) = hit_lines(&e, &q, None, usize::MAX);
    assert!(done);
    let b64 = |v: &[f32]| base64::engine::general_purpose::STANDARD.encode(f32s(v));
    use base64::Engine as _;
    assert_eq!(
        text,
        format!(
            "before\n\
             {{\"path\":\"/docs/a\",\"distance\":0.0,\"metadata\":{{\"lang\":\"en\",\"raw\":{{\"b64\":\"/wA=\"}}}},\
             \"vector\":[0,0.5],\"vector_b64\":\"{}\",\"size\":5,\"mtime\":1700000000.25}}\n\
             {{\"path\":\"/docs/b\",\"distance\":1.0,\"metadata\":{{\"year\":\"2020\"}},\
             \"vector\":[1,0.5],\"vector_b64\":\"{}\",\"size\":0,\"mtime\":2}}\n",
            b64(&[0.0, 0.5]),
            b64(&[1.0, 0.5])
        )
    );
    // Named keys, in the order asked, missing ones left out; the batch index first.
    q.include = crate::query::Include::parse(["metadata.year", "metadata.lang", "metadata.nope"]).unwrap();
    let (_, text) = hit_lines(&e, &q, Some(7), usize::MAX);
    assert_eq!(
        text,
        "before\n\
         {\"query\":7,\"path\":\"/docs/a\",\"distance\":0.0,\"metadata\":{\"lang\":\"en\"}}\n\
         {\"query\":7,\"path\":\"/docs/b\",\"distance\":1.0,\"metadata\":{\"year\":\"2020\"}}\n"
    );
    // Every line parses as JSON.
    for line in text.lines().skip(1) {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn hit_lines_stop_at_the_limit_without_a_partial_line() {
    let e = radius_docs();
    let mut q = query("/docs", &[0.0, 0.5], 3);
    q.include = crate::query::Include::parse(["vector"]).unwrap();
    let (done, full) = hit_lines(&e, &q, None, usize::MAX);
    assert!(done);
    let first_two = full.lines().take(3).map(|l| format!("{l}\n")).collect::<String>();
    let (done, text) = hit_lines(&e, &q, None, first_two.len() + 3);
    assert!(!done);
    assert_eq!(text, first_two, "whole lines only");
}

#[test]
fn same_operations_give_the_same_state() {
    fn run() -> u64 {
        let mut e = engine();
        let d = e.mkdir(ROOT_INO, b"d", 0o755, &at(1)).unwrap().ino;
        e.setxattr(d, INDEX_XATTR, b"dim=4 metric=cosine", XattrMode::Any, &at(1))
            .unwrap();
        for i in 0..200u32 {
            let name = format!("f{i}");
            let ino = e.create(d, name.as_bytes(), 0o644, &at(2)).unwrap().ino;
            let v: Vec<f32> = (0..4).map(|j| ((i * 7 + j * 13) % 17) as f32 - 8.0).collect();
            e.setxattr(ino, VECTOR_XATTR, &f32s(&v), XattrMode::Any, &at(3))
                .unwrap();
            e.write(ino, u64::from(i) * 100, name.as_bytes(), &at(4)).unwrap();
            if i % 3 == 0 {
                e.unlink(d, name.as_bytes(), &at(5)).unwrap();
            }
        }
        check(&e).unwrap();
        digest(&e)
    }
    assert_eq!(run(), run());
}

/// Issue 18, item 7: a file linked from a dim=4 collection into a dim=8 one takes a vector that
/// fits either of them through any of its names; it is indexed where it fits and counted as
/// unindexed in the other. A vector that fits neither is refused and changes nothing.
#[test]
fn vector_fitting_one_of_a_files_collections_is_accepted() {
    let mut e = engine();
    let four = e.mkdir(ROOT_INO, b"four", 0o755, &at(1)).unwrap().ino;
    let eight = e.mkdir(ROOT_INO, b"eight", 0o755, &at(1)).unwrap().ino;
    e.setxattr(four, INDEX_XATTR, b"dim=4", XattrMode::Any, &at(1))
        .unwrap();
    e.setxattr(eight, INDEX_XATTR, b"dim=8", XattrMode::Any, &at(1))
        .unwrap();
    let f = e.create(four, b"f", 0o644, &at(2)).unwrap().ino;
    e.link(f, eight, b"f8", &at(2)).unwrap();
    let unindexed = |e: &Engine, path: &str| {
        let s = e.stats(&Creds::ROOT);
        let c = s.collections.iter().find(|c| c.path == path).unwrap();
        (c.vectors, c.unindexed)
    };
    // Through either name (same inode): a 4-d vector.
    e.setxattr(
        f,
        VECTOR_XATTR,
        &f32s(&[1.0, 2.0, 3.0, 4.0]),
        XattrMode::Any,
        &at(3),
    )
    .unwrap();
    assert_eq!(
        names(&e, &query("/four", &[1.0, 2.0, 3.0, 4.0], 10)),
        vec!["/four/f"]
    );
    assert_eq!(names(&e, &query("/eight", &[0.0; 8], 10)), Vec::<String>::new());
    assert_eq!(unindexed(&e, "/four"), (1, 0));
    assert_eq!(unindexed(&e, "/eight"), (0, 1));
    check(&e).unwrap();
    // An 8-d vector: now the other way round.
    e.setxattr(f, VECTOR_XATTR, &f32s(&[1.0; 8]), XattrMode::Any, &at(4))
        .unwrap();
    assert_eq!(names(&e, &query("/four", &[0.0; 4], 10)), Vec::<String>::new());
    assert_eq!(names(&e, &query("/eight", &[1.0; 8], 10)), vec!["/eight/f8"]);
    assert_eq!(unindexed(&e, "/four"), (0, 1));
    assert_eq!(unindexed(&e, "/eight"), (1, 0));
    check(&e).unwrap();
    // Fits neither: EINVAL, nothing changes.
    let before = digest(&e);
    for bad in [f32s(&[1.0; 3]), f32s(&[1.0, f32::NAN, 0.0, 0.0])] {
        let mut c = e.clone();
        let r = c.setxattr(f, VECTOR_XATTR, &bad, XattrMode::Any, &at(5));
        assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
        assert_eq!(digest(&c), before);
    }
}

/// Issue 18, item 5: a zero vector has no direction, so a cosine collection refuses it with
/// EINVAL (and a file renamed in with one stays unindexed); other metrics take it.
#[test]
fn zero_vector_is_refused_by_cosine_collections() {
    let mut e = engine();
    let cos = e.mkdir(ROOT_INO, b"cos", 0o755, &at(1)).unwrap().ino;
    let l2 = e.mkdir(ROOT_INO, b"l2", 0o755, &at(1)).unwrap().ino;
    e.setxattr(cos, INDEX_XATTR, b"dim=2 metric=cosine", XattrMode::Any, &at(1))
        .unwrap();
    e.setxattr(l2, INDEX_XATTR, b"dim=2", XattrMode::Any, &at(1))
        .unwrap();
    let ci8 = e.mkdir(ROOT_INO, b"ci8", 0o755, &at(1)).unwrap().ino;
    e.setxattr(
        ci8,
        INDEX_XATTR,
        b"dim=2 metric=cosine type=i8",
        XattrMode::Any,
        &at(1),
    )
    .unwrap();
    let a = e.create(cos, b"a", 0o644, &at(2)).unwrap().ino;
    let b = e.create(ci8, b"b", 0o644, &at(2)).unwrap().ino;
    let before = digest(&e);
    for zero in [f32s(&[0.0, 0.0]), f32s(&[-0.0, 0.0])] {
        let mut c = e.clone();
        let r = c.setxattr(a, VECTOR_XATTR, &zero, XattrMode::Any, &at(3));
        assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
        assert_eq!(digest(&c), before);
    }
    let mut c = e.clone();
    let r = c.setxattr(b, VECTOR_XATTR, &[0, 0], XattrMode::Any, &at(3));
    assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
    assert_eq!(digest(&c), before);
    e.setxattr(b, VECTOR_XATTR, &[0, 1], XattrMode::Any, &at(3))
        .unwrap();
    e.setxattr(a, VECTOR_XATTR, &f32s(&[0.0, 1e-30]), XattrMode::Any, &at(3))
        .unwrap();
    // l2 takes it; renamed into the cosine collection it stays unindexed there.
    let z = e.create(l2, b"z", 0o644, &at(4)).unwrap().ino;
    e.setxattr(z, VECTOR_XATTR, &f32s(&[0.0, 0.0]), XattrMode::Any, &at(4))
        .unwrap();
    assert_eq!(names(&e, &query("/l2", &[0.0, 0.0], 10)), vec!["/l2/z"]);
    e.rename(l2, b"z", cos, b"z", RenameMode::Replace, &at(5))
        .unwrap();
    assert_eq!(names(&e, &query("/cos", &[1.0, 1.0], 10)), vec!["/cos/a"]);
    // As a query too: a zero vector, given or through `like`, has no cosine distance.
    let mut q = query("/cos", &[0.0, 0.0], 10);
    for target in [
        Target::Values(vec![0.0, -0.0]),
        Target::Bytes(f32s(&[0.0, 0.0])),
        Target::Like("/cos/z".into()),
    ] {
        q.target = target;
        let r = e.search(&q, &Creds::ROOT, &mut Scratch::new(), &mut Vec::new());
        assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
    }
    let s = e.stats(&Creds::ROOT);
    let c = s.collections.iter().find(|c| c.path == "/cos").unwrap();
    assert_eq!((c.vectors, c.unindexed), (1, 1));
    check(&e).unwrap();
}
