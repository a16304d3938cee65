//! Issue 18's search additions through the in-process API: radius search, `include` and
//! batches, answering exactly as the mount does, and refusing bad input.

#![allow(clippy::unwrap_used)]

use vexfs::{Error, Include, IndexConfig, Query, Scratch, Target, Vexfs, vector::ElemType};

/// `/c` (dim 2, l2): `f0`..`f4` at `(i, 0)` with `user.n = i`.
fn collection() -> Vexfs {
    let mut fs = Vexfs::in_memory();
    fs.create_dir("/c").unwrap();
    fs.create_collection("/c", &IndexConfig::new(2, ElemType::F32))
        .unwrap();
    for i in 0..5 {
        let p = format!("/c/f{i}");
        fs.write(&p, vec![b'x'; i]).unwrap();
        fs.set_vector(&p, &[i as f32, 0.0]).unwrap();
        fs.set_xattr(&p, "user.n", i.to_string()).unwrap();
    }
    fs
}

fn paths(fs: &Vexfs, q: &Query) -> Vec<String> {
    fs.search(q).unwrap().into_iter().map(|r| r.path).collect()
}

#[test]
fn radius_search() {
    let fs = collection();
    let mut q = Query::new("/c", Target::Values(vec![0.0, 0.0]));
    q.max_distance = Some(4.0);
    assert_eq!(paths(&fs, &q), ["/c/f0", "/c/f1", "/c/f2"]);
    q.k = 2;
    assert_eq!(paths(&fs, &q), ["/c/f0", "/c/f1"]);
    q.max_distance = Some(-0.5);
    assert!(matches!(fs.search(&q), Err(Error::Query(m)) if m.contains("at least 0")));
    let r = fs
        .search_json(r#"{"dir":"/c","vector":[0,0],"max_distance":1}"#)
        .unwrap();
    assert_eq!(r.len(), 2);
    for bad in [r#""1""#, "null1", "1e999"] {
        let json = format!(r#"{{"dir":"/c","vector":[0,0],"max_distance":{bad}}}"#);
        assert!(matches!(fs.search_json(&json), Err(Error::Query(_))), "{bad}");
    }
}

#[test]
fn lines_with_include_and_batches_match_the_mount_format() {
    let fs = collection();
    let mut s = Scratch::new();
    let one = r#"{"dir":"/c","vector":[3,0],"k":1,"include":["metadata","vector","size"]}"#;
    let out = String::from_utf8(fs.search_lines(one, &mut s).unwrap()).unwrap();
    assert_eq!(
        out,
        "{\"path\":\"/c/f3\",\"distance\":0.0,\"metadata\":{\"n\":\"3\"},\"vector\":[3,0],\"size\":3}\n"
    );
    let batch = format!(r#"[{one},{{"dir":"/c","vector":[0,0],"k":2,"max_distance":0.5}}]"#);
    let out = String::from_utf8(fs.search_lines(&batch, &mut s).unwrap()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with(r#"{"query":0,"path":"/c/f3""#), "{out}");
    assert_eq!(lines[1], r#"{"query":1,"path":"/c/f0","distance":0.0}"#);
    // A bad query names its place in the batch.
    let bad = format!(r#"[{one},{{"dir":"/c","vector":[0,0],"max_distance":-1}}]"#);
    match fs.search_lines(&bad, &mut s) {
        Err(Error::Query(m)) => assert!(m.starts_with("query 1: "), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(Include::parse(["vectors"]).is_err(), "the JSON names are exact");
}
