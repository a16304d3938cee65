//! Vectors end to end using only the mount: a collection made with `setxattr`, 2,000 files with
//! 128-dimensional f32 vectors (seeded, clustered) and metadata, searches through
//! `/.vexfs/search` with and without filters, recall against exact search, consistency after
//! unlink / rename / re-vectoring, rejection of bad vectors and queries, and identical results
//! after a remount.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::collections::HashSet;
use std::path::Path;

const N: usize = 2000;
const DIM: usize = 128;
const QUERIES: usize = 50;

fn name(i: usize) -> String {
    format!("doc{i:04}")
}

fn index_of(path: &str) -> usize {
    path.rsplit("doc").next().unwrap().parse().unwrap()
}

fn populate(root: &Path, data: &[Vec<f32>]) {
    let docs = root.join("docs");
    std::fs::create_dir(&docs).unwrap();
    setxattr(
        &docs,
        b"user.vexfs.index",
        b"dim=128 metric=l2 type=f32 ef_search=64",
        0,
    )
    .unwrap();
    let cfg = getxattr(&docs, b"user.vexfs.index").unwrap();
    assert_eq!(
        String::from_utf8(cfg).unwrap(),
        "dim=128 metric=l2 type=f32 m=16 ef_construction=200 ef_search=64"
    );
    for (i, v) in data.iter().enumerate() {
        let f = docs.join(name(i));
        std::fs::write(&f, format!("document {i}\n")).unwrap();
        setxattr(&f, b"user.bucket", (i % 10).to_string().as_bytes(), 0).unwrap();
        if i % 100 == 7 {
            setxattr(&f, b"user.rare", b"yes", 0).unwrap();
        }
        setxattr(&f, b"user.vexfs.vector", &vec_bytes(v), 0).unwrap();
    }
    std::fs::create_dir(root.join("elsewhere")).unwrap();
}

fn queries(data: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let mut rng = Rng(99);
    (0..QUERIES)
        .map(|q| {
            let base = &data[(q * 37) % data.len()];
            base.iter().map(|x| x + rng.normal(0.1)).collect()
        })
        .collect()
}

fn run(root: &Path, q: &str) -> Vec<String> {
    search(root, q).unwrap_or_else(|e| panic!("query failed: {e:?}\n{q}"))
}

/// Recall@10 of the index against exact search, over all queries.
fn recall(root: &Path, qs: &[Vec<f32>]) -> f64 {
    let mut found = 0;
    for q in qs {
        let approx: HashSet<String> = paths(&run(root, &query("/docs", q, 10, "")))
            .into_iter()
            .collect();
        let exact = paths(&run(root, &query("/docs", q, 10, ",\"exact\":true")));
        assert_eq!(exact.len(), 10);
        found += exact.iter().filter(|p| approx.contains(*p)).count();
    }
    found as f64 / (10 * qs.len()) as f64
}

fn searches_and_checks(root: &Path, data: &mut [Vec<f32>]) -> Vec<Vec<String>> {
    let qs = queries(data);

    // Recall@10 against exact search.
    let r = recall(root, &qs);
    eprintln!("recall@10 = {r:.4} over {QUERIES} queries");
    assert!(r >= 0.95, "recall@10 {r} < 0.95");

    // Results are JSON lines, nearest first, with the distances exact search agrees on.
    let lines = run(root, &query("/docs", &qs[0], 10, ""));
    let mut last = f64::MIN;
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let d = v["distance"].as_f64().unwrap();
        assert!(d >= last, "not ordered: {lines:?}");
        last = d;
        assert!(v["path"].as_str().unwrap().starts_with("/docs/doc"));
    }

    // Filtered searches at 10% and 1% selectivity return k results, all matching.
    for q in qs.iter().take(10) {
        let hits = paths(&run(root, &query("/docs", q, 10, ",\"filter\":\"bucket = 3\"")));
        assert_eq!(hits.len(), 10, "10% filter");
        assert!(hits.iter().all(|p| index_of(p) % 10 == 3), "{hits:?}");
        let hits = paths(&run(root, &query("/docs", q, 10, ",\"filter\":\"rare = yes\"")));
        assert_eq!(hits.len(), 10, "1% filter");
        assert!(hits.iter().all(|p| index_of(p) % 100 == 7), "{hits:?}");
        let hits = paths(&run(
            root,
            &query("/docs", q, 5, ",\"filter\":\"rare = yes and bucket >= 7\""),
        ));
        assert_eq!(hits.len(), 5);
    }

    // An unlinked file disappears from the very next search.
    let docs = root.join("docs");
    let top = paths(&run(root, &query("/docs", &data[5], 1, "")));
    assert_eq!(top, vec!["/docs/doc0005".to_owned()]);
    std::fs::remove_file(docs.join("doc0005")).unwrap();
    let after = paths(&run(root, &query("/docs", &data[5], 10, "")));
    assert!(!after.contains(&"/docs/doc0005".to_owned()), "{after:?}");
    let exact = paths(&run(root, &query("/docs", &data[5], 10, ",\"exact\":true")));
    assert!(!exact.contains(&"/docs/doc0005".to_owned()));

    // A file renamed out of the collection too; renamed within, it shows its new name.
    std::fs::rename(docs.join("doc0006"), root.join("elsewhere/doc0006")).unwrap();
    let after = paths(&run(root, &query("/docs", &data[6], 10, "")));
    assert!(!after.iter().any(|p| p.ends_with("doc0006")), "{after:?}");
    std::fs::rename(docs.join("doc0008"), docs.join("moved0008")).unwrap();
    let after = paths(&run(root, &query("/docs", &data[8], 1, "")));
    assert_eq!(after, vec!["/docs/moved0008".to_owned()]);
    std::fs::rename(docs.join("moved0008"), docs.join("doc0008")).unwrap();

    // A re-vectored file is found at its new place immediately.
    let target: Vec<f32> = (0..DIM).map(|i| if i == 0 { 50.0 } else { 0.0 }).collect();
    setxattr(
        &docs.join("doc0009"),
        b"user.vexfs.vector",
        &vec_bytes(&target),
        0,
    )
    .unwrap();
    data[9] = target.clone();
    let lines = run(root, &query("/docs", &target, 1, ""));
    assert_eq!(paths(&lines), vec!["/docs/doc0009".to_owned()]);
    assert!(lines[0].contains("\"distance\":0.0"), "{lines:?}");

    // Bad vectors: wrong length and NaN are EINVAL and change nothing.
    let before = getxattr(&docs.join("doc0010"), b"user.vexfs.vector").unwrap();
    let snapshot = run(root, &query("/docs", &data[10], 10, ""));
    assert_eq!(
        setxattr(
            &docs.join("doc0010"),
            b"user.vexfs.vector",
            &vec_bytes(&[1.0; DIM - 1]),
            0
        ),
        Err(libc::EINVAL)
    );
    let mut nan = data[10].clone();
    nan[3] = f32::NAN;
    assert_eq!(
        setxattr(&docs.join("doc0010"), b"user.vexfs.vector", &vec_bytes(&nan), 0),
        Err(libc::EINVAL)
    );
    let mut inf = data[10].clone();
    inf[0] = f32::INFINITY;
    assert_eq!(
        setxattr(&docs.join("doc0010"), b"user.vexfs.vector", &vec_bytes(&inf), 0),
        Err(libc::EINVAL)
    );
    assert_eq!(
        getxattr(&docs.join("doc0010"), b"user.vexfs.vector").unwrap(),
        before
    );
    assert_eq!(run(root, &query("/docs", &data[10], 10, "")), snapshot);

    // Bad queries: EINVAL and an error line, and nothing changes.
    let bad = [
        "{\"dir\":\"/docs\",\"vector\":[1,2,3]}".to_owned(),
        query("/docs", &data[1], 0, ""),
        query("/docs", &data[1], 1001, ""),
        query("/docs", &data[1], 10, ",\"filter\":\"bucket = = 3\""),
        "{\"dir\":\"/docs\"}".to_owned(),
        "{\"dir\":\"docs\",\"vector\":[1]}".to_owned(),
        "{\"dir\":\"/docs\",\"vector\":[1],\"like\":\"/docs/doc0001\"}".to_owned(),
        "not json".to_owned(),
        "{\"dir\":\"/docs\",\"vector\":[1]} trailing".to_owned(),
    ];
    for q in &bad {
        match search(root, q) {
            Err((errno, text)) => {
                assert_eq!(errno, libc::EINVAL, "{q}");
                let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
                assert!(v["error"].is_string(), "{text}");
            }
            Ok(lines) => panic!("bad query accepted: {q} -> {lines:?}"),
        }
    }
    assert_eq!(run(root, &query("/docs", &data[10], 10, "")), snapshot);

    // `like` uses a file's vector; a missing collection is ENOENT.
    let like = paths(&run(
        root,
        "{\"dir\":\"/docs\",\"like\":\"/docs/doc0009\",\"k\":1}",
    ));
    assert_eq!(like, vec!["/docs/doc0009".to_owned()]);
    assert_eq!(
        search(root, &query("/nope", &data[1], 1, "")).unwrap_err().0,
        libc::ENOENT
    );

    // A query written in pieces runs when complete.
    let q = query("/docs", &data[11], 3, "");
    let mut f = std::fs::File::options()
        .read(true)
        .write(true)
        .open(root.join(".vexfs/search"))
        .unwrap();
    use std::io::{Read, Write};
    let (a, b) = q.split_at(q.len() / 2);
    f.write_all(a.as_bytes()).unwrap();
    f.write_all(b.as_bytes()).unwrap();
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    assert_eq!(
        paths(&text.lines().map(str::to_owned).collect::<Vec<_>>())[0],
        "/docs/doc0011"
    );
    // ...and the same open file takes another query.
    let again = transact(&mut f, &query("/docs", &data[12], 1, "")).unwrap();
    assert_eq!(paths(&again), vec!["/docs/doc0012".to_owned()]);
    drop(f);

    // What the remount must reproduce.
    qs.iter()
        .take(10)
        .map(|q| run(root, &query("/docs", q, 10, ",\"filter\":\"bucket != 4\"")))
        .collect()
}

#[test]
fn vectors_end_to_end() {
    let mut data = clustered(N, DIM, 40, 2024);
    let s = Scratch::new("vectors");
    let mut before = Vec::new();
    let opts = vexfs_fuse::MountOptions::default();
    let ran = s.with_mount(&opts, |root| {
        populate(root, &data);
        before = searches_and_checks(root, &mut data);
    });
    if !ran {
        return;
    }
    s.with_mount(&opts, |root| {
        let qs = queries(&data);
        let after: Vec<Vec<String>> = qs
            .iter()
            .take(10)
            .map(|q| run(root, &query("/docs", q, 10, ",\"filter\":\"bucket != 4\"")))
            .collect();
        assert_eq!(before, after, "results differ after a remount");
        let stats: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(".vexfs/stats")).unwrap()).unwrap();
        let c = &stats["collections"][0];
        assert_eq!(c["path"], "/docs");
        assert_eq!(c["vectors"], (N - 2) as u64);
    });
}
