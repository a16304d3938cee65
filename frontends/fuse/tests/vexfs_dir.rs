//! The virtual `/.vexfs` directory: listed in the root, cannot be removed, renamed, created
//! over or written into; `stats` is valid JSON with the documented fields and is read-only;
//! `search` handles are independent.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

fn err(r: std::io::Result<impl std::fmt::Debug>) -> i32 {
    code(&r.expect_err("expected an error"))
}

fn exercise(root: &Path) {
    let v = root.join(".vexfs");
    // Listed in the root, with its two files.
    let names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec![".vexfs".to_owned()]);
    let mut inside: Vec<String> = std::fs::read_dir(&v)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    inside.sort();
    assert_eq!(inside, vec!["search", "stats"]);
    let m = std::fs::metadata(&v).unwrap();
    assert!(m.is_dir());
    // The root's link count counts it as a subdirectory.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(root).unwrap().nlink(), 3);
    assert_eq!(
        std::fs::metadata(v.join("..")).unwrap().ino(),
        std::fs::metadata(root).unwrap().ino()
    );

    // Cannot be removed or renamed, nor anything put in its place or inside it.
    assert_eq!(err(std::fs::remove_dir(&v)), libc::EPERM);
    assert_eq!(err(std::fs::rename(&v, root.join("x"))), libc::EPERM);
    std::fs::create_dir(root.join("d")).unwrap();
    assert_eq!(err(std::fs::rename(root.join("d"), &v)), libc::EPERM);
    assert_eq!(
        rename2(&root.join("d"), &v, libc::RENAME_EXCHANGE),
        Err(libc::EPERM)
    );
    std::fs::write(root.join("f"), b"x").unwrap();
    assert_eq!(err(std::fs::rename(root.join("f"), &v)), libc::EISDIR);
    assert_eq!(err(std::fs::create_dir(&v)), libc::EEXIST);
    assert_eq!(
        err(File::options().write(true).create_new(true).open(&v)),
        libc::EEXIST
    );
    assert_eq!(err(std::os::unix::fs::symlink("f", &v)), libc::EEXIST);
    assert_eq!(err(std::fs::hard_link(root.join("f"), &v)), libc::EEXIST);
    assert_eq!(err(std::fs::remove_file(v.join("search"))), libc::EPERM);
    assert_eq!(err(std::fs::rename(v.join("stats"), root.join("s"))), libc::EPERM);
    assert_eq!(err(std::fs::rename(root.join("f"), v.join("f"))), libc::EPERM);
    assert_eq!(err(std::fs::write(v.join("new"), b"x")), libc::EPERM);
    assert_eq!(err(std::fs::create_dir(v.join("sub"))), libc::EPERM);
    assert_eq!(
        err(std::fs::hard_link(v.join("stats"), root.join("s"))),
        libc::EPERM
    );
    assert_eq!(setxattr(&v.join("stats"), b"user.x", b"1", 0), Err(libc::EPERM));
    assert_eq!(getxattr(&v.join("stats"), b"user.x"), Err(libc::ENODATA));
    // Still there.
    assert!(std::fs::metadata(v.join("search")).unwrap().is_file());
    // `search` claims the size of the largest query: the kernel runs direct writes to one
    // inode in parallel only when they end within its size, and a query runs in its write.
    assert_eq!(
        std::fs::metadata(v.join("search")).unwrap().len(),
        vexfs_core::limits::QUERY_LEN_MAX as u64
    );

    // stats is read-only and valid JSON with the documented fields.
    assert_eq!(
        err(File::options().write(true).open(v.join("stats"))),
        libc::EACCES
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v.join("stats")).unwrap()).unwrap();
    for field in [
        "files",
        "directories",
        "symlinks",
        "special_files",
        "bytes",
        "allocated_bytes",
        "image_bytes",
    ] {
        assert!(doc[field].is_u64(), "{field}: {doc}");
    }
    assert_eq!(doc["files"], 1);
    assert_eq!(doc["directories"], 2);
    assert!(doc["collections"].as_array().unwrap().is_empty());
    let ops = doc["operations"].as_object().unwrap();
    for op in [
        "lookup", "getattr", "read", "write", "create", "search", "setxattr", "fsync",
    ] {
        assert!(ops[op]["count"].is_u64(), "{op}");
    }
    assert!(ops["create"]["count"].as_u64().unwrap() >= 1);
    for p in ["p50_us", "p90_us", "p99_us"] {
        assert!(ops["create"][p].as_u64().unwrap() >= 1, "{p}");
    }
    assert!(
        ops["search"].get("p50_us").is_none(),
        "no percentile before any search"
    );
    let mount = &doc["mount"];
    assert_eq!(mount["read_only"], false);
    assert_eq!(mount["threads"], 4);

    // A collection shows up with its figures.
    let c = root.join("c");
    std::fs::create_dir(&c).unwrap();
    setxattr(&c, b"user.vexfs.index", b"dim=2", 0).unwrap();
    std::fs::write(c.join("a"), b"").unwrap();
    setxattr(&c.join("a"), b"user.vexfs.vector", &vec_bytes(&[1.0, 2.0]), 0).unwrap();
    std::fs::write(c.join("b"), b"").unwrap();
    setxattr(&c.join("b"), b"user.vexfs.vector", b"bad", 0).unwrap_err();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v.join("stats")).unwrap()).unwrap();
    let coll = &doc["collections"][0];
    assert_eq!(coll["path"], "/c");
    assert_eq!(coll["vectors"], 1);
    assert_eq!(
        coll["config"],
        "dim=2 metric=l2 type=f32 m=16 ef_construction=200 ef_search=64"
    );
    for field in ["unindexed", "deleted", "memory_bytes"] {
        assert!(coll[field].is_u64(), "{field}");
    }

    // One open stats file reads one consistent snapshot, by offset, in small pieces.
    let mut f = File::open(v.join("stats")).unwrap();
    let mut pieces = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        pieces.extend_from_slice(&buf[..n]);
    }
    serde_json::from_slice::<serde_json::Value>(&pieces).unwrap();

    // Two search handles are independent, even interleaved.
    let open = || {
        File::options()
            .read(true)
            .write(true)
            .open(v.join("search"))
            .unwrap()
    };
    let (mut h1, mut h2) = (open(), open());
    h1.write_all(b"{\"dir\":\"/c\",\"vector\":[1,2],\"k\":1}")
        .unwrap();
    assert_eq!(
        h2.write_all(b"{\"dir\":\"/c\",\"vector\":[1]}")
            .map_err(|e| code(&e)),
        Err(libc::EINVAL)
    );
    let (mut r1, mut r2) = (String::new(), String::new());
    h1.read_to_string(&mut r1).unwrap();
    h2.read_to_string(&mut r2).unwrap();
    assert_eq!(r1, "{\"path\":\"/c/a\",\"distance\":0.0}\n");
    assert!(r2.starts_with("{\"error\":"), "{r2}");
    // pread on the stream is refused rather than answered from the wrong place.
    use std::os::unix::fs::FileExt;
    assert_eq!(h1.read_at(&mut buf, 0).map_err(|e| code(&e)), Err(libc::ESPIPE));
    // An incomplete query reads back as an error line and stays open for the rest.
    h1.write_all(b"{\"dir\":\"/c\",").unwrap();
    let mut partial = String::new();
    h1.read_to_string(&mut partial).unwrap();
    assert!(partial.contains("incomplete"), "{partial}");
    h1.write_all(b"\"vector\":[1,2],\"k\":1}").unwrap();
    let mut done = String::new();
    h1.read_to_string(&mut done).unwrap();
    assert!(done.contains("/c/a"), "{done}");
    drop((h1, h2));

    // stats counts what is open and referenced while it is rendered.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v.join("stats")).unwrap()).unwrap();
    assert!(doc["mount"]["referenced_inodes"].as_u64().unwrap() >= 1);
}

#[test]
fn vexfs_directory() {
    with_fresh_mount("vexfsdir", exercise);
}
