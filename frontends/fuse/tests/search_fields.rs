//! Issue 18's search additions through a real mount: radius search (`max_distance`), what a hit
//! carries (`include`), batches (a JSON array of queries), and the search memory budget bounding
//! what a query's answer may hold. Every bad input fails the write with `EINVAL` and an error
//! line, and changes nothing (the next good query answers as before).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use vexfs_fuse::MountOptions;

/// `/docs` (dim 2, l2): `f0`..`f9` at `(i, 0)`, each with `user.n = i` and `user.even` on
/// the even ones, and `i` bytes of data.
fn populate(root: &Path) {
    let docs = root.join("docs");
    std::fs::create_dir(&docs).unwrap();
    setxattr(&docs, b"user.vexfs.index", b"dim=2 metric=l2", 0).unwrap();
    for i in 0..10 {
        let f = docs.join(format!("f{i}"));
        std::fs::write(&f, vec![b'x'; i]).unwrap();
        setxattr(&f, b"user.vexfs.vector", &vec_bytes(&[i as f32, 0.0]), 0).unwrap();
        setxattr(&f, b"user.n", i.to_string().as_bytes(), 0).unwrap();
        if i % 2 == 0 {
            setxattr(&f, b"user.even", b"yes", 0).unwrap();
        }
    }
}

fn json(lines: &[String]) -> Vec<Value> {
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn einval(root: &Path, q: &str, says: &str) {
    let (errno, text) = search(root, q).unwrap_err();
    assert_eq!(errno, libc::EINVAL, "{q}: {text}");
    assert!(text.contains(says), "{q}: {text}");
}

#[test]
fn radius_search_through_the_mount() {
    with_fresh_mount("radius", |root| {
        populate(root);
        for exact in ["", r#","exact":true"#] {
            // Squared l2 from (0, 0): 0, 1, 4, 9, ...; the bound is inclusive.
            let got = search(
                root,
                &query("/docs", &[0.0, 0.0], 10, &format!(r#","max_distance":4{exact}"#)),
            )
            .unwrap();
            assert_eq!(paths(&got), ["/docs/f0", "/docs/f1", "/docs/f2"]);
            // At most k.
            let got = search(
                root,
                &query("/docs", &[0.0, 0.0], 2, &format!(r#","max_distance":100{exact}"#)),
            )
            .unwrap();
            assert_eq!(paths(&got), ["/docs/f0", "/docs/f1"]);
            // Nothing within reach: no lines, not an error.
            let got = search(
                root,
                &query(
                    "/docs",
                    &[50.0, 50.0],
                    10,
                    &format!(r#","max_distance":1{exact}"#),
                ),
            )
            .unwrap();
            assert!(got.is_empty(), "{got:?}");
        }
        einval(
            root,
            &query("/docs", &[0.0, 0.0], 10, r#","max_distance":-1"#),
            "at least 0 for metric l2",
        );
        einval(
            root,
            &query("/docs", &[0.0, 0.0], 10, r#","max_distance":"1""#),
            "max_distance must be a number",
        );
        einval(
            root,
            &query("/docs", &[0.0, 0.0], 10, r#","max_distance":NaN"#),
            "invalid query",
        );
        einval(
            root,
            &query("/docs", &[0.0, 0.0], 10, r#","max_distance":1e999"#),
            "invalid query",
        );
        // Nothing changed: the same query answers as before.
        let got = search(root, &query("/docs", &[0.0, 0.0], 3, "")).unwrap();
        assert_eq!(paths(&got), ["/docs/f0", "/docs/f1", "/docs/f2"]);
    });
}

#[test]
fn hits_carry_what_include_asks_for_through_the_mount() {
    with_fresh_mount("include", |root| {
        populate(root);
        let f3 = root.join("docs/f3");
        let mtime = std::fs::metadata(&f3).unwrap();
        let got = search(
            root,
            &query(
                "/docs",
                &[3.0, 0.0],
                1,
                r#","include":["metadata","vector","vector_b64","size","mtime"]"#,
            ),
        )
        .unwrap();
        let hit = &json(&got)[0];
        assert_eq!(hit["path"], "/docs/f3");
        assert_eq!(hit["metadata"], serde_json::json!({ "n": "3" }));
        let values: Vec<f64> = hit["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(values, [3.0, 0.0]);
        use base64::Engine as _;
        assert_eq!(
            hit["vector_b64"].as_str().unwrap(),
            base64::engine::general_purpose::STANDARD.encode(vec_bytes(&[3.0, 0.0]))
        );
        assert_eq!(hit["size"], 3);
        use std::os::unix::fs::MetadataExt;
        let want = mtime.mtime() as f64 + mtime.mtime_nsec() as f64 / 1e9;
        assert!((hit["mtime"].as_f64().unwrap() - want).abs() < 1e-6, "{hit}");
        // Named keys: only those, and a key a file lacks is left out.
        let got = search(
            root,
            &query(
                "/docs",
                &[3.5, 0.0],
                2,
                r#","include":["metadata.even","metadata.n"]"#,
            ),
        )
        .unwrap();
        let hits = json(&got);
        assert_eq!(hits[0]["metadata"], serde_json::json!({ "n": "3" }));
        assert_eq!(
            hits[1]["metadata"],
            serde_json::json!({ "even": "yes", "n": "4" })
        );
        assert!(hits[0].get("vector").is_none() && hits[0].get("size").is_none());
        einval(
            root,
            &query("/docs", &[0.0, 0.0], 1, r#","include":["embeddings"]"#),
            "include takes",
        );
        einval(
            root,
            &query("/docs", &[0.0, 0.0], 1, r#","include":["metadata.vexfs.vector"]"#),
            "not metadata",
        );
        einval(
            root,
            &query("/docs", &[0.0, 0.0], 1, r#","include":[{"a":1}]"#),
            "invalid query",
        );
    });
}

#[test]
fn batches_through_the_mount() {
    with_fresh_mount("batch", |root| {
        populate(root);
        let qs: Vec<String> = (0..5)
            .map(|i| query("/docs", &[i as f32 * 2.0, 0.0], 2, r#","include":["size"]"#))
            .collect();
        let batch = format!("[{}]", qs.join(",\n"));
        let got = json(&search(root, &batch).unwrap());
        assert_eq!(got.len(), 10);
        for (j, line) in got.iter().enumerate() {
            let i = j / 2;
            assert_eq!(line["query"], i, "{line}");
            // Each query's own answer, in order, with what it asked for.
            let want = search(root, &qs[i]).unwrap();
            let mut alone: Value = serde_json::from_str(&want[j % 2]).unwrap();
            alone["query"] = i.into();
            assert_eq!(*line, alone);
        }
        // Written in pieces, it runs once the array is complete.
        let mut f = std::fs::File::options()
            .read(true)
            .write(true)
            .open(root.join(".vexfs/search"))
            .unwrap();
        use std::io::Write as _;
        let (a, b) = batch.split_at(batch.len() / 2);
        f.write_all(a.as_bytes()).unwrap();
        assert_eq!(json(&transact(&mut f, b).unwrap()).len(), 10);
        // A bad query anywhere fails the batch, naming it; a missing collection keeps ENOENT.
        let bad = format!("[{},{}]", qs[0], query("/docs", &[0.0], 1, ""));
        let (errno, text) = search(root, &bad).unwrap_err();
        assert_eq!(errno, libc::EINVAL);
        assert!(text.contains("query 1: "), "{text}");
        let bad = format!("[{},{}]", qs[0], query("/nope", &[0.0, 0.0], 1, ""));
        let (errno, text) = search(root, &bad).unwrap_err();
        assert_eq!(errno, libc::ENOENT);
        assert!(text.contains("query 1: "), "{text}");
        // The missing path is named, whether `dir` or `like`.
        let (errno, text) = search(root, &query("/nope", &[0.0, 0.0], 1, "")).unwrap_err();
        assert_eq!(errno, libc::ENOENT);
        assert!(text.contains("/nope: no such file"), "{text}");
        let (errno, text) = search(root, r#"{"dir":"/docs","like":"/docs/gone"}"#).unwrap_err();
        assert_eq!(errno, libc::ENOENT);
        assert!(text.contains("/docs/gone: no such file"), "{text}");
        einval(root, "[]", "at least one");
        einval(root, "[1]", "invalid query");
    });
}

#[test]
fn an_answer_past_the_search_memory_budget_is_an_error() {
    let s = Scratch::new("budget");
    let opts = MountOptions {
        search_memory_mib: 1,
        ..MountOptions::default()
    };
    s.with_mount(&opts, |root| {
        let big = root.join("big");
        std::fs::create_dir(&big).unwrap();
        setxattr(&big, b"user.vexfs.index", b"dim=1024 metric=l2", 0).unwrap();
        for i in 0..200 {
            let f = big.join(format!("f{i}"));
            std::fs::write(&f, b"").unwrap();
            let v: Vec<f32> = (0..1024)
                .map(|j| ((i * 31 + j * 7) % 97) as f32 / 97.0 + 0.001)
                .collect();
            setxattr(&f, b"user.vexfs.vector", &vec_bytes(&v), 0).unwrap();
        }
        let v = vec![0.5f32; 1024];
        // 200 hits of 1024 numbers each: some MiB of text, past the 1 MiB budget.
        let q = query("/big", &v, 200, r#","include":["vector"],"exact":true"#);
        let (errno, text) = search(root, &q).unwrap_err();
        assert_eq!(errno, libc::ENOBUFS, "{text}");
        assert!(
            text.contains("results would exceed the search memory budget"),
            "{text}"
        );
        // Without the vectors the same query fits.
        let q = query("/big", &v, 200, r#","exact":true"#);
        assert_eq!(search(root, &q).unwrap().len(), 200);
    });
}
