//! Crash test (issue 6): SIGKILL the `vexfs mount` process right after fsync. Everything made
//! durable before the kill (file contents, vectors, metadata attributes, the collection) is there
//! after remounting, searches find it, and `vexfs fsck` exits 0 both on the crashed image and
//! after a clean unmount.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Scratch, fuse_or_skip, ok, parse_results, pseudo_vector, raw_vector, vexfs};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;

const FILES: u64 = 40;
const DIM: usize = 16;

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn content(i: u64) -> Vec<u8> {
    format!("file {i}\n").repeat(1 + i as usize * 97).into_bytes()
}

fn fsck_is_clean(scratch: &Scratch, when: &str) {
    let out = vexfs([OsStr::new("fsck"), scratch.image.as_os_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "fsck {when}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn kill_9_after_fsync_loses_nothing_durable() {
    if !fuse_or_skip("kill_9_after_fsync_loses_nothing_durable") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    let docs = m.p("docs");
    std::fs::create_dir(&docs).unwrap();
    ok([
        "index",
        "create",
        docs.to_str().unwrap(),
        "--dim",
        &DIM.to_string(),
        "--metric",
        "cosine",
    ]);
    for i in 0..FILES {
        let path = docs.join(format!("f{i:03}"));
        let mut f = File::create(&path).unwrap();
        f.write_all(&content(i)).unwrap();
        xattr::set(&path, "user.vexfs.vector", &f32_bytes(&pseudo_vector(i, DIM))).unwrap();
        xattr::set(&path, "user.lang", if i % 2 == 0 { b"en" } else { b"fr" }).unwrap();
        f.sync_all().unwrap();
    }
    // Through the CLI too, then fsync that file.
    let last = docs.join("cli");
    std::fs::write(&last, b"set by the cli").unwrap();
    let values = pseudo_vector(1000, DIM)
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",");
    ok(["vector", "set", last.to_str().unwrap(), &values]);
    File::open(&last).unwrap().sync_all().unwrap();
    m.kill9();

    fsck_is_clean(&scratch, "after kill -9");
    let m = scratch.mount();
    let docs = m.p("docs");
    assert!(
        xattr::get(&docs, "user.vexfs.index")
            .unwrap()
            .unwrap()
            .starts_with(format!("dim={DIM} metric=cosine").as_bytes())
    );
    for i in 0..FILES {
        let path = docs.join(format!("f{i:03}"));
        assert_eq!(std::fs::read(&path).unwrap(), content(i), "f{i:03}");
        assert_eq!(
            raw_vector(&path).unwrap(),
            f32_bytes(&pseudo_vector(i, DIM)),
            "f{i:03}"
        );
        let lang = xattr::get(&path, "user.lang").unwrap().unwrap();
        assert_eq!(lang, if i % 2 == 0 { b"en" } else { b"fr" });
    }
    assert_eq!(std::fs::read(docs.join("cli")).unwrap(), b"set by the cli");
    assert_eq!(
        ok(["vector", "get", docs.join("cli").to_str().unwrap()]),
        format!("{values}\n")
    );
    // Every file is found by its own vector, exactly and through the index.
    for i in (0..FILES).step_by(7) {
        let q = pseudo_vector(i, DIM)
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",");
        for exact in [false, true] {
            let mut args = vec!["search", docs.to_str().unwrap(), "--vector", &q, "-k", "1"];
            if exact {
                args.push("--exact");
            }
            let hits = parse_results(&ok(&args));
            assert_eq!(
                hits[0].2,
                docs.join(format!("f{i:03}")).to_str().unwrap(),
                "exact={exact}"
            );
        }
    }
    let out = ok([
        "search",
        docs.to_str().unwrap(),
        "--like",
        docs.join("f004").to_str().unwrap(),
        "-k",
        "100",
        "--filter",
        "lang = fr",
    ]);
    assert_eq!(parse_results(&out).len(), FILES as usize / 2, "{out}");
    m.unmount();
    fsck_is_clean(&scratch, "after remount and clean unmount");
}
