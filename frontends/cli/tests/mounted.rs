//! The commands that work inside a mount (`index create`, `vector set/get`, `search`, `import`,
//! `stats MOUNTPOINT`), run as the built binary against a real `vexfs mount`: round trips, and
//! bad input that must fail with one line, a non-zero exit, and no change.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Scratch, fails, fuse_or_skip, ok, parse_results, pseudo_vector, raw_vector, write_fvecs};
use std::ffi::OsStr;
use std::path::Path;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn index_import_search_round_trip() {
    if !fuse_or_skip("index_import_search_round_trip") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    let docs = m.p("docs");
    std::fs::create_dir(&docs).unwrap();
    let out = ok(["index", "create", s(&docs), "--dim", "8", "--ef-search", "40"]);
    let canonical = "dim=8 metric=l2 type=f32 m=16 ef_construction=200 ef_search=40";
    assert_eq!(out, format!("{}: collection: {canonical}\n", docs.display()));
    assert_eq!(
        xattr::get(&docs, "user.vexfs.index").unwrap().unwrap(),
        canonical.as_bytes()
    );

    let vectors: Vec<Vec<f32>> = (0..300).map(|i| pseudo_vector(i, 8)).collect();
    let fvecs = scratch.path("v.fvecs");
    write_fvecs(&fvecs, &vectors);
    let out = ok(["import", s(&docs), "--fvecs", s(&fvecs)]);
    assert_eq!(
        out,
        format!(
            "{}: imported 300 vectors as vec000000000..vec000000299\n",
            docs.display()
        )
    );
    let mut names: Vec<String> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 300);
    assert_eq!(names[17], "vec000000017");
    let raw: Vec<u8> = vectors[17].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(raw_vector(&docs.join("vec000000017")).unwrap(), raw);

    // A second import with another prefix adds to the collection.
    write_fvecs(&fvecs, &vectors[..2]);
    ok(["import", s(&docs), "--fvecs", s(&fvecs), "--prefix", "more-"]);
    assert!(docs.join("more-000000001").exists());

    // Text results: rank, distance, mountpoint + path; the exact vector first at distance 0.
    let query = vectors[17]
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let out = ok(["search", s(&docs), "--vector", &query, "-k", "5"]);
    let hits = parse_results(&out);
    assert_eq!(hits.len(), 5, "{out}");
    assert_eq!(hits[0], (1, 0.0, s(&docs.join("vec000000017")).to_owned()));
    assert!(
        hits.windows(2).all(|w| w[0].1 <= w[1].1 && w[1].0 == w[0].0 + 1),
        "{out}"
    );

    // The same search, exact and with --json, agrees.
    let exact = ok(["search", s(&docs), "--vector", &query, "-k", "5", "--exact"]);
    assert_eq!(parse_results(&exact)[0], hits[0]);
    let json = ok(["search", s(&docs), "--vector", &query, "-k", "5", "--json"]);
    let lines: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["path"], "/docs/vec000000017");
    assert_eq!(lines[0]["distance"], 0.0);
    for (l, h) in lines.iter().zip(&hits) {
        assert_eq!(
            m.p(l["path"].as_str().unwrap().trim_start_matches('/'))
                .to_str()
                .unwrap(),
            h.2
        );
    }

    // --like, from a relative DIR (run inside the mount), and a filter on the name.
    let out = ok([
        "search",
        s(&docs),
        "--like",
        s(&docs.join("vec000000042")),
        "-k",
        "1",
        "--ef",
        "100",
    ]);
    assert_eq!(parse_results(&out)[0].2, s(&docs.join("vec000000042")));
    let out = ok([
        "search",
        s(&docs),
        "--vector",
        &query,
        "-k",
        "3",
        "--filter",
        "@name >= vec000000290",
    ]);
    let hits = parse_results(&out);
    assert_eq!(hits.len(), 3, "{out}");
    assert!(
        hits.iter().all(|h| h.2.as_str() >= s(&docs.join("vec000000290"))),
        "{out}"
    );

    // Stats through the mountpoint count the vectors.
    let stats: serde_json::Value = serde_json::from_str(&ok(["stats", s(&m.root)])).unwrap();
    assert_eq!(stats["collections"][0]["vectors"], 302);

    m.unmount();
    let out = common::vexfs([OsStr::new("fsck"), scratch.image.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Makes `docs` a collection (dim 2, l2) of `f0`..`f4`: `fI` holds `I` bytes, its vector is
/// `(I, 0)` and its `user.n` is `I`.
fn points_on_a_line(docs: &Path) {
    std::fs::create_dir(docs).unwrap();
    ok(["index", "create", s(docs), "--dim", "2"]);
    for i in 0..5 {
        let f = docs.join(format!("f{i}"));
        std::fs::write(&f, vec![b'x'; i]).unwrap();
        ok(["vector", "set", s(&f), &format!("{i},0")]);
        xattr::set(&f, "user.n", i.to_string().as_bytes()).unwrap();
    }
}

#[test]
fn search_radius_and_include() {
    if !fuse_or_skip("search_radius_and_include") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    let docs = m.p("docs");
    points_on_a_line(&docs);
    // Squared l2 from (0, 0): 0, 1, 4, 9, 16; within 4, at most 10.
    let out = ok([
        "search",
        s(&docs),
        "--vector",
        "0,0",
        "--max-distance",
        "4",
        "--paths-only",
    ]);
    let want: Vec<String> = (0..3)
        .map(|i| format!("{}\n", docs.join(format!("f{i}")).display()))
        .collect();
    assert_eq!(out, want.concat());
    let out = ok([
        "search",
        s(&docs),
        "--vector",
        "0,0",
        "--max-distance",
        "4",
        "-k",
        "2",
        "--paths-only",
    ]);
    assert_eq!(out, want[..2].concat());
    // Include: the fields after a tab in text, in the lines as they came with --json.
    let out = ok([
        "search",
        s(&docs),
        "--vector",
        "3,0",
        "-k",
        "1",
        "--include",
        "metadata,size",
    ]);
    assert_eq!(
        out,
        format!(
            "1 0.0 {}\t{{\"metadata\":{{\"n\":\"3\"}},\"size\":3}}\n",
            docs.join("f3").display()
        )
    );
    let out = ok([
        "search",
        s(&docs),
        "--vector",
        "3,0",
        "-k",
        "1",
        "--include",
        "vector",
        "--json",
    ]);
    assert_eq!(out, "{\"path\":\"/docs/f3\",\"distance\":0.0,\"vector\":[3,0]}\n");
    // Bad values: one line, non-zero exit.
    let e = fails(["search", s(&docs), "--vector", "0,0", "--max-distance", "-1"]);
    assert!(e.contains("max_distance must be at least 0 for metric l2"), "{e}");
    let e = fails(["search", s(&docs), "--vector", "0,0", "--max-distance", "NaN"]);
    assert!(e.contains("--max-distance"), "{e}");
    // ("far" is a usage error: clap's exit status 2, tested with the other usage errors.)
    let e = fails(["search", s(&docs), "--vector", "0,0", "--include", "embeddings"]);
    assert!(e.contains("--include"), "{e}");
}

#[test]
fn vector_set_get_round_trip() {
    if !fuse_or_skip("vector_set_get_round_trip") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    for (name, opts, input, printed, raw) in [
        (
            "f32",
            vec!["--dim", "3"],
            "0.1, -2.5, 3e-4",
            "0.1,-2.5,0.0003",
            [0.1f32, -2.5, 3e-4]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
        (
            "f16",
            vec!["--dim", "3", "--type", "f16", "--metric", "cosine"],
            "0.5 -1.25 1000",
            "0.5,-1.25,1000",
            vec![0x00, 0x38, 0x00, 0xbd, 0xd0, 0x63],
        ),
        (
            "i8",
            vec!["--dim", "4", "--type", "i8"],
            "-128,0,5,127",
            "-128,0,5,127",
            vec![0x80, 0, 5, 0x7f],
        ),
        (
            "bin",
            vec!["--dim", "16", "--type", "bin"],
            "1,0,0,1,0,0,0,1, 0,0,0,0,0,0,0,1",
            "1,0,0,1,0,0,0,1,0,0,0,0,0,0,0,1",
            vec![0b1000_1001, 0b1000_0000],
        ),
    ] {
        let dir = m.p(name);
        std::fs::create_dir(&dir).unwrap();
        let mut args = vec!["index", "create", s(&dir)];
        args.extend(opts);
        ok(&args);
        let file = dir.join("a");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(ok(["vector", "set", s(&file), input]), "");
        assert_eq!(raw_vector(&file).unwrap(), raw, "{name}");
        assert_eq!(ok(["vector", "get", s(&file)]), format!("{printed}\n"), "{name}");
        // What get prints, set takes back unchanged.
        ok(["vector", "set", s(&file), printed]);
        assert_eq!(raw_vector(&file).unwrap(), raw, "{name}");
        // And the file is found by its own vector.
        let out = ok(["search", s(&dir), "--vector", printed, "-k", "1"]);
        assert_eq!(parse_results(&out)[0].2, s(&file), "{name}");
    }
    // Values as separate arguments, negative first.
    let f = m.p("f32/b");
    std::fs::write(&f, b"").unwrap();
    ok(["vector", "set", s(&f), "-1", "2", "-3.5"]);
    assert_eq!(ok(["vector", "get", s(&f)]), "-1,2,-3.5\n");

    // --from a raw f32 file, converted to the collection's type.
    let src = scratch.path("v.f32");
    std::fs::write(
        &src,
        [0.5f32, -1.25, 1000.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let g = m.p("f16/g");
    std::fs::write(&g, b"").unwrap();
    ok(["vector", "set", s(&g), "--from", s(&src)]);
    assert_eq!(raw_vector(&g).unwrap(), vec![0x00, 0x38, 0x00, 0xbd, 0xd0, 0x63]);

    // Outside a collection: raw f32 of any length.
    let loose = m.p("loose");
    std::fs::write(&loose, b"").unwrap();
    ok(["vector", "set", s(&loose), "1.5,2,3,4,5"]);
    assert_eq!(raw_vector(&loose).unwrap().len(), 20);
    assert_eq!(ok(["vector", "get", s(&loose)]), "1.5,2,3,4,5\n");
    m.unmount();
}

#[test]
fn bad_input_fails_with_one_line_and_changes_nothing() {
    if !fuse_or_skip("bad_input_fails_with_one_line_and_changes_nothing") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    let docs = m.p("docs");
    let plain = m.p("plain");
    std::fs::create_dir(&docs).unwrap();
    std::fs::create_dir(&plain).unwrap();
    ok(["index", "create", s(&docs), "--dim", "3", "--type", "i8"]);
    let a = docs.join("a");
    std::fs::write(&a, b"a").unwrap();
    ok(["vector", "set", s(&a), "1,2,3"]);
    let before = raw_vector(&a).unwrap();
    let outside = scratch.path("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("f"), b"").unwrap();

    // index create.
    let e = fails(["index", "create", s(&plain), "--dim", "3", "--metric", "euclid"]);
    assert!(e.contains("unknown metric"), "{e}");
    let e = fails(["index", "create", s(&plain), "--dim", "5000"]);
    assert!(e.contains("dim out of range"), "{e}");
    let e = fails(["index", "create", s(&plain), "--dim", "12", "--type", "bin"]);
    assert!(e.contains("multiple of 8"), "{e}");
    assert_eq!(xattr::get(&plain, "user.vexfs.index").unwrap(), None);
    let e = fails(["index", "create", s(&a), "--dim", "3"]);
    assert!(e.ends_with("not a directory"), "{e}");
    let e = fails(["index", "create", s(&outside), "--dim", "3"]);
    assert!(e.ends_with("not inside a VexFS mount"), "{e}");
    let e = fails(["index", "create", s(&m.p("missing")), "--dim", "3"]);
    assert!(e.ends_with("No such file or directory"), "{e}");
    // A collection holding vectors keeps its dim.
    let e = fails(["index", "create", s(&docs), "--dim", "4", "--type", "i8"]);
    assert!(e.contains("holds vectors"), "{e}");
    assert!(
        xattr::get(&docs, "user.vexfs.index")
            .unwrap()
            .unwrap()
            .starts_with(b"dim=3 ")
    );

    // vector set / get.
    for (values, want) in [
        ("1,2", "expected 3 values"),
        ("1,2,3,4", "expected 3 values"),
        ("1,2.5,3", "value 2 (2.5) is not an integer"),
        ("1,2,300", "value 3 (300) is not an integer in -128..=127"),
        ("1,,3", "empty value"),
        ("1,x,3", "value 2 (\"x\") is not a decimal number"),
        ("1,nan,3", "not finite"),
    ] {
        let e = fails(["vector", "set", s(&a), values]);
        assert!(e.contains(want), "{values}: {e}");
        assert_eq!(raw_vector(&a).unwrap(), before, "{values}");
    }
    let e = fails(["vector", "set", s(&docs.join("missing")), "1,2,3"]);
    assert!(e.ends_with("No such file or directory"), "{e}");
    assert!(!docs.join("missing").exists());
    let e = fails(["vector", "set", s(&docs), "1,2,3"]);
    assert!(e.ends_with("not a regular file"), "{e}");
    let e = fails(["vector", "set", s(&outside.join("f")), "1,2,3"]);
    assert!(e.ends_with("not inside a VexFS mount"), "{e}");
    assert_eq!(xattr::get(outside.join("f"), "user.vexfs.vector").unwrap(), None);
    let e = fails(["vector", "set", s(&a), "--from", s(&scratch.path("missing.f32"))]);
    assert!(e.contains("No such file or directory"), "{e}");
    std::fs::write(scratch.path("odd.f32"), [0u8; 5]).unwrap();
    let e = fails(["vector", "set", s(&a), "--from", s(&scratch.path("odd.f32"))]);
    assert!(e.contains("not raw f32"), "{e}");
    assert_eq!(raw_vector(&a).unwrap(), before);
    let b = docs.join("b");
    std::fs::write(&b, b"").unwrap();
    let e = fails(["vector", "get", s(&b)]);
    assert!(e.ends_with("has no vector"), "{e}");

    // search.
    let e = fails(["search", s(&plain), "--vector", "1,2,3"]);
    assert!(e.contains("not a collection"), "{e}");
    let e = fails(["search", s(&docs), "--vector", "1,2"]);
    assert!(e.contains("expected 3 values"), "{e}");
    let e = fails(["search", s(&docs), "--vector", "1,2,3", "--filter", "lang = "]);
    assert!(e.contains("--filter"), "{e}");
    let e = fails(["search", s(&docs), "--vector", "1,2,3", "-k", "0"]);
    assert!(e.contains('k'), "{e}");
    let e = fails(["search", s(&outside), "--vector", "1,2,3"]);
    assert!(e.ends_with("not inside a VexFS mount"), "{e}");
    // A query only the filesystem can refuse (the --like file has no vector): its error line.
    let e = fails(["search", s(&docs), "--like", s(&b)]);
    assert!(e.starts_with("vexfs: search: "), "{e}");

    // import.
    let fvecs = scratch.path("v.fvecs");
    write_fvecs(&fvecs, &[vec![1.0, 2.0, 3.0], vec![1.0, 2.0]]);
    let e = fails(["import", s(&docs), "--fvecs", s(&fvecs)]);
    assert!(
        e.contains("record 1 has dimension 2, the collection's is 3"),
        "{e}"
    );
    write_fvecs(&fvecs, &[vec![1.0, 2.0, 3.0], vec![1.0, 2.5, 3.0]]);
    let e = fails(["import", s(&docs), "--fvecs", s(&fvecs)]);
    assert!(e.contains("record 1: value 2 (2.5) is not an integer"), "{e}");
    let mut truncated = std::fs::read(&fvecs).unwrap();
    truncated.pop();
    std::fs::write(&fvecs, &truncated).unwrap();
    let e = fails(["import", s(&docs), "--fvecs", s(&fvecs)]);
    assert!(e.contains("truncated record"), "{e}");
    write_fvecs(&fvecs, &[vec![1.0, 2.0, 3.0]]);
    let e = fails(["import", s(&plain), "--fvecs", s(&fvecs)]);
    assert!(e.contains("not a collection"), "{e}");
    let e = fails(["import", s(&docs), "--fvecs", s(&scratch.path("missing.fvecs"))]);
    assert!(e.contains("No such file or directory"), "{e}");
    let e = fails(["import", s(&docs), "--fvecs", s(&fvecs), "--prefix", "a/b"]);
    assert!(e.contains("--prefix"), "{e}");
    std::fs::write(docs.join("vec000000000"), b"").unwrap();
    let e = fails(["import", s(&docs), "--fvecs", s(&fvecs)]);
    assert!(e.contains("vec000000000 already exists"), "{e}");
    let e = fails(["import", s(&outside), "--fvecs", s(&fvecs)]);
    assert!(e.ends_with("not inside a VexFS mount"), "{e}");
    let mut names: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b", "vec000000000"]);
    assert_eq!(raw_vector(&a).unwrap(), before);

    // stats of a directory that is not in a mount: the same line as the other commands.
    let e = fails(["stats", s(&outside)]);
    assert!(e.ends_with("not inside a VexFS mount"), "{e}");
    m.unmount();
}

#[test]
fn search_batch_from_a_file_of_vectors() {
    if !fuse_or_skip("search_batch_from_a_file_of_vectors") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    let docs = m.p("docs");
    points_on_a_line(&docs);
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let q = scratch.dir.path().join("q.f32");
    std::fs::write(&q, f32s(&[0.0, 0.0, 4.0, 0.0, 2.1, 0.0])).unwrap();
    let path = |i: usize| docs.join(format!("f{i}")).display().to_string();
    // Text: query index in the file, rank, distance, path.
    let out = ok(["search", s(&docs), "--from", s(&q), "-k", "2"]);
    let want = format!(
        "0 1 0.0 {}\n0 2 1.0 {}\n1 1 0.0 {}\n1 2 1.0 {}\n",
        path(0),
        path(1),
        path(4),
        path(3)
    );
    assert!(out.starts_with(&want), "{out}");
    let third: Vec<&str> = out.lines().filter(|l| l.starts_with("2 ")).collect();
    assert_eq!(third.len(), 2, "{out}");
    assert!(
        third[0].starts_with("2 1 ") && third[0].ends_with(&path(2)),
        "{out}"
    );
    let out = ok(["search", s(&docs), "--from", s(&q), "-k", "1", "--paths-only"]);
    assert_eq!(out, format!("0 {}\n1 {}\n2 {}\n", path(0), path(4), path(2)));
    let out = ok(["search", s(&docs), "--from", s(&q), "-k", "1", "--json"]);
    assert_eq!(
        out.lines().next().unwrap(),
        "{\"query\":0,\"path\":\"/docs/f0\",\"distance\":0.0}"
    );
    // More queries than one batch takes: several writes, numbered across them, in order.
    let many: Vec<f32> = (0..2500).flat_map(|i| [(i % 5) as f32, 0.0]).collect();
    std::fs::write(&q, f32s(&many)).unwrap();
    let out = ok(["search", s(&docs), "--from", s(&q), "-k", "1", "--json"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2500);
    for (i, l) in lines.iter().enumerate() {
        let want = format!("{{\"query\":{i},\"path\":\"/docs/f{}\",\"distance\":0.0}}", i % 5);
        assert_eq!(*l, want);
    }
    // A bad vector anywhere: one line naming it, nothing searched.
    std::fs::write(&q, f32s(&[0.0, 0.0, 1.0, f32::NAN])).unwrap();
    let e = fails(["search", s(&docs), "--from", s(&q)]);
    assert!(e.contains("not finite"), "{e}");
}
